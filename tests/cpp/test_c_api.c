/* The C API from a C program: create / run / read / release / destroy with
 * the shipped model, and status codes with a last-error message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fassst/c_api.h"

static int failures = 0;
#define EXPECT(cond)                                                  \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

int main(void) {
  fassst_segmenter* seg = NULL;
  fassst_result* res = NULL;
  fassst_options opt;
  const int w = 300, h = 200;
  unsigned char* img = (unsigned char*)malloc((size_t)w * h);
  int x, y;
  size_t i, k;

  /* errors: a status code and a message naming the file */
  EXPECT(fassst_segmenter_create("/nonexistent/m.onnx", NULL, &seg) == FASSST_ERROR_MODEL);
  EXPECT(seg == NULL);
  EXPECT(strstr(fassst_last_error(), "/nonexistent/m.onnx") != NULL);
  EXPECT(strcmp(fassst_status_string(FASSST_ERROR_MODEL), "model error") == 0);
  EXPECT(fassst_segmenter_run(NULL, NULL, &res) == FASSST_ERROR_INVALID_ARGUMENT);

  /* bad options are refused, naming the option: a NaN threshold is not "the model's" */
  fassst_options_init(&opt);
  opt.score_threshold = NAN;
  EXPECT(fassst_segmenter_create(FASSST_TEST_MODEL, &opt, &seg) == FASSST_ERROR_INVALID_ARGUMENT);
  EXPECT(seg == NULL);
  EXPECT(strstr(fassst_last_error(), "score_threshold") != NULL && strstr(fassst_last_error(), "nan") != NULL);
  fassst_options_init(&opt);
  opt.nms_threshold = NAN;
  EXPECT(fassst_segmenter_create(FASSST_TEST_MODEL, &opt, &seg) == FASSST_ERROR_INVALID_ARGUMENT);
  EXPECT(strstr(fassst_last_error(), "nms_threshold") != NULL);
  fassst_options_init(&opt);
  opt.num_threads = 1000000;
  EXPECT(fassst_segmenter_create(FASSST_TEST_MODEL, &opt, &seg) == FASSST_ERROR_INVALID_ARGUMENT);
  EXPECT(strstr(fassst_last_error(), "num_threads must be in [0, 1024]") != NULL);
  EXPECT(strstr(fassst_last_error(), "1000000") != NULL);

  fassst_options_init(&opt);
  opt.memory_budget_mib = 8;
  EXPECT(fassst_segmenter_create(FASSST_TEST_MODEL, &opt, &seg) == FASSST_ERROR_INVALID_ARGUMENT);
  EXPECT(strstr(fassst_last_error(), "memory_budget_mib must be in [16, 1048576], got 8") != NULL);
  fassst_options_init(&opt);
  opt.max_batch = -3;
  EXPECT(fassst_segmenter_create(FASSST_TEST_MODEL, &opt, &seg) == FASSST_ERROR_INVALID_ARGUMENT);
  EXPECT(strstr(fassst_last_error(), "max_batch must be in [1, 4096], got -3") != NULL);

  /* a grey frame whose 3-channel copy leaves less than the pipeline needs is
     refused as out of memory before it is converted */
  fassst_options_init(&opt);
  opt.memory_budget_mib = 48;
  EXPECT(fassst_segmenter_create(FASSST_TEST_MODEL, &opt, &seg) == FASSST_OK);
  if (seg) {
    static unsigned char big[3000 * 3000];
    fassst_image im;
    im.data = big;
    im.width = 3000;
    im.height = 3000;
    im.stride = 0;
    im.format = FASSST_PIXEL_GRAY8;
    EXPECT(fassst_segmenter_run(seg, &im, &res) == FASSST_ERROR_OUT_OF_MEMORY);
    EXPECT(res == NULL);
    EXPECT(strstr(fassst_last_error(), "a 3000 x 3000 frame is too large for memory_budget_mib = 48") != NULL);
    fassst_segmenter_destroy(seg);
    seg = NULL;
  }

  fassst_options_init(&opt);
  opt.num_threads = 2;
  EXPECT(fassst_segmenter_create(FASSST_TEST_MODEL, &opt, &seg) == FASSST_OK);
  if (!seg) {
    fprintf(stderr, "cannot continue: %s\n", fassst_last_error());
    return 1;
  }
  EXPECT(fassst_segmenter_num_classes(seg) == 2);
  EXPECT(strcmp(fassst_segmenter_class_name(seg, 0), "nucleus") == 0);
  EXPECT(fassst_segmenter_class_name(seg, 5) == NULL);

  /* a grey frame with two bright discs */
  for (y = 0; y < h; ++y)
    for (x = 0; x < w; ++x) {
      int d1 = (x - 80) * (x - 80) + (y - 90) * (y - 90), d2 = (x - 200) * (x - 200) + (y - 120) * (y - 120);
      img[y * w + x] = (unsigned char)((d1 < 256 || d2 < 324) ? 200 : 25);
    }
  {
    fassst_image im;
    im.data = img;
    im.width = w;
    im.height = h;
    im.stride = 0;
    im.format = FASSST_PIXEL_GRAY8;
    EXPECT(fassst_segmenter_run(seg, &im, &res) == FASSST_OK);
    im.stride = 5;
    {
      fassst_result* bad = NULL;
      EXPECT(fassst_segmenter_run(seg, &im, &bad) == FASSST_ERROR_INVALID_ARGUMENT);
      EXPECT(bad == NULL);
      EXPECT(strstr(fassst_last_error(), "stride") != NULL);
    }
  }
  EXPECT(res != NULL);
  k = fassst_result_count(res);
  EXPECT(k > 0);
  EXPECT(fassst_result_image_width(res) == w && fassst_result_image_height(res) == h);
  EXPECT(fassst_result_mask_size(res) == 32);
  EXPECT(fassst_result_timing(res, "frame") >= 0.0);
  EXPECT(fassst_result_timing(res, "nope") < 0.0);
  {
    unsigned char* mask = (unsigned char*)malloc((size_t)w * h);
    for (i = 0; i < k; ++i) {
      const float* b = fassst_result_boxes(res) + 4 * i;
      size_t on = 0, p;
      EXPECT(b[0] >= 0.0f && b[2] <= (float)w);
      EXPECT(fassst_result_scores(res)[i] >= 0.3f);
      EXPECT(fassst_result_class_name(res, i) != NULL);
      EXPECT(fassst_result_paste_mask(res, i, 0.5f, mask, (size_t)w * h) == FASSST_OK);
      for (p = 0; p < (size_t)w * h; ++p) on += mask[p];
      EXPECT(on > 0);
    }
    EXPECT(fassst_result_paste_mask(res, 0, 0.5f, mask, 10) == FASSST_ERROR_INVALID_ARGUMENT);
    EXPECT(fassst_result_paste_mask(res, k, 0.5f, mask, (size_t)w * h) == FASSST_ERROR_INVALID_ARGUMENT);
    EXPECT(fassst_result_paste_mask(res, 0, NAN, mask, (size_t)w * h) == FASSST_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(fassst_last_error(), "threshold") != NULL);
    free(mask);
  }
  fassst_result_release(res);
  fassst_segmenter_destroy(seg);
  fassst_result_release(NULL);
  fassst_segmenter_destroy(NULL);
  free(img);
  fprintf(stderr, "%s (%d failed checks)\n", failures ? "FAIL" : "OK", failures);
  return failures ? 1 : 0;
}
