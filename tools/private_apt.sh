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
