/* Runs the compiled `mlp` artifact: reads x (3 x 8 float32, raw) from argv[2],
 * writes y (3 x 4 float32, raw) to argv[3]. Links only the artifact. */
#include <stdio.h>

#include "mlp.h"

int main(int argc, char **argv) {
  float x[3 * 8];
  const int64_t shape[2] = {3, 8};
  FILE *in = fopen(argv[2], "rb");
  if (argc != 4 || !in || fread(x, sizeof x, 1, in) != 1)
    return 2;
  fclose(in);
  compress_session *s = compress_session_create(&mlp_model, argv[1], 1);
  if (!s || compress_session_set_input(s, "x", x, shape, 2) || compress_session_run(s)) {
    fprintf(stderr, "error: %s\n", compress_last_error());
    return 1;
  }
  const void *y;
  const int64_t *yshape;
  int rank;
  if (compress_session_get_output(s, "y", &y, &yshape, &rank) || rank != 2)
    return 1;
  FILE *out = fopen(argv[3], "wb");
  fwrite(y, sizeof(float), yshape[0] * yshape[1], out);
  fclose(out);
  compress_session_destroy(s);
  return 0;
}
