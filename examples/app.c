/* The C example of the README, built by CI against the installed library. */
#include <stdio.h>
#include <tswal.h>

static int on_samples(void *ctx, const wal_sample *s, size_t len) {
  int64_t *newest = ctx;
  for (size_t i = 0; i < len; i++)  /* s[0..len) is valid only during this call */
    if (s[i].t > *newest) *newest = s[i].t;
  return 0;                         /* non-zero stops the read with WAL_ERR_ABORTED */
}

int main(void) {
  wal_options opts;
  wal_options_init(&opts);     /* always start from the defaults */
  opts.segment_size = 64 << 20;

  wal_t *w;
  if (wal_open("data/wal", &opts, &w) != WAL_OK) {
    fprintf(stderr, "open: %s\n", wal_last_error());
    return 1;
  }
  int64_t newest = INT64_MIN;  /* replay: required before the first write */
  if (wal_read(w, NULL, on_samples, NULL, &newest) != WAL_OK) {
    fprintf(stderr, "read: %s\n", wal_last_error());
  }

  wal_label labels[] = {{"__name__", 8, "up", 2}, {"job", 3, "node", 4}};
  wal_series series = {.ref = 1, .labels = labels, .labels_len = 2};
  wal_sample sample = {.ref = 1, .t = 1700000000000, .v = 1.0};
  wal_status st;
  if ((st = wal_log_series(w, &series, 1)) != WAL_OK ||
      (st = wal_log_samples(w, &sample, 1)) != WAL_OK ||
      (st = wal_sync(w)) != WAL_OK) {   /* durable once wal_sync returns WAL_OK */
    fprintf(stderr, "%s: %s\n", wal_status_str(st), wal_last_error());
  }
  return wal_close(w) == WAL_OK ? 0 : 1;
}
