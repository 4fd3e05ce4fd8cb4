# Sourced by the fetch_*.sh scripts: an apt-get of their own that downloads
# Debian packages without touching /etc/apt or the system's package state.
#
#   private_apt_setup DIR "deb ... line" ["deb ... line" ...]
#
# makes DIR/{lists,archives,cache,state,status,sources.list} and sets the array
# APT_OPTS: pass it to apt-get (update, download). Nothing is installed; the
# callers unpack the .deb files with dpkg-deb -x.
private_apt_setup() {
  local dir="$1"
  shift
  mkdir -p "$dir"/{lists/partial,archives/partial,cache,state}
  touch "$dir/status"
  {
    echo "# Written by tools/private_apt.sh; used only through -o Dir::Etc::SourceList."
    printf '%s\n' "$@"
  } > "$dir/sources.list"
  APT_OPTS=(
    -o "Dir::Etc::SourceList=$dir/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=/dev/null"
    -o "Dir::State=$dir/state"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::State::status=$dir/status"
    -o "Dir::Cache=$dir/cache"
    -o "Dir::Cache::archives=$dir/archives"
    -o "APT::Architecture=amd64"
    -o "APT::Architectures::=amd64"
    -o "Acquire::Languages=none"
    -o "Debug::NoLocking=1"
    -q
  )
  # as root, apt drops to the _apt user, which cannot write our cache
  [ "$(id -u)" = 0 ] && APT_OPTS+=(-o "APT::Sandbox::User=root")
  return 0
}

# debian_mirror: prints the Debian archive to fetch from: $FASSST_DEBIAN_MIRROR
# when set, else the first `deb` source of this machine's own apt configuration
# (the files apt reads: Dir::Etc::SourceList and Dir::Etc::SourceParts' *.list
# and deb822 *.sources, in apt's order) whose suite is a Debian release
# (bookworm, trixie-updates, stable, ...) with the main component. Security and
# third-party sources are passed over. Fails, saying what it read, when there
# is none (e.g. an Ubuntu host: set FASSST_DEBIAN_MIRROR to a Debian mirror).
debian_mirror() {
  if [ -n "${FASSST_DEBIAN_MIRROR:-}" ]; then
    echo "${FASSST_DEBIAN_MIRROR%/}"
    return 0
  fi
  local source_list=/etc/apt/sources.list source_parts=/etc/apt/sources.list.d
  if command -v apt-config >/dev/null; then
    eval "$(apt-config shell source_list Dir::Etc::SourceList/f source_parts Dir::Etc::SourceParts/d)"
  fi
  local files=() f uri
  [ -f "$source_list" ] && files+=("$source_list")
  for f in "${source_parts%/}"/*; do
    case "$f" in *.list | *.sources) [ -f "$f" ] && files+=("$f") ;; esac
  done
  for f in ${files[@]+"${files[@]}"}; do
    uri="$(awk -v deb822="$([[ $f == *.sources ]] && echo 1 || echo 0)" '
      function debian_release(suite) {
        sub(/\/$/, "", suite)
        return suite ~ /^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldoldstable|oldstable|stable|testing|unstable)(-updates|-backports|-proposed-updates)?$/
      }
      function has_word(list, word,    n, i, w) {
        n = split(list, w, /[ \t]+/)
        for (i = 1; i <= n; i++) if (w[i] == word) return 1
        return 0
      }
      function usable(uri) { return uri ~ /^(https?|ftp|file):/ }
      BEGIN { if (deb822) RS = "" }
      !deb822 {
        sub(/#.*/, "")
        gsub(/\[[^]]*\]/, "")
        if ($1 == "deb" && usable($2) && debian_release($3)) {
          for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit }
        }
        next
      }
      {  # one deb822 stanza: fields "Key: value", continuation lines start with a blank
        delete field
        n = split($0, line, "\n")
        key = ""
        for (i = 1; i <= n; i++) {
          if (line[i] ~ /^#/) continue
          if (line[i] ~ /^[ \t]/ && key != "") { field[key] = field[key] " " line[i]; continue }
          if (match(line[i], /^[A-Za-z0-9-]+:/)) {
            key = tolower(substr(line[i], 1, RLENGTH - 1))
            field[key] = substr(line[i], RLENGTH + 1)
          }
        }
        if (tolower(field["enabled"]) ~ /^[ \t]*no[ \t]*$/ || !has_word(field["types"], "deb")) next
        if (!has_word(field["components"], "main")) next
        ns = split(field["suites"], suite, /[ \t]+/)
        ok = 0
        for (i = 1; i <= ns; i++) if (debian_release(suite[i])) ok = 1
        if (!ok) next
        nu = split(field["uris"], uris, /[ \t]+/)
        for (i = 1; i <= nu; i++) if (usable(uris[i])) { print uris[i]; exit }
      }' "$f")"
    if [ -n "$uri" ]; then
      echo "${uri%/}"
      return 0
    fi
  done
  echo "private_apt.sh: no Debian archive among the apt sources of this machine" \
       "(read: ${files[*]:-none}); set FASSST_DEBIAN_MIRROR to a Debian mirror's URL" >&2
  return 1
}
