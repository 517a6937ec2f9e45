/* The tail example of the README: follows data/wal, saving its position after each
 * delivery, and stops after three seconds with nothing new. CI builds it against the
 * installed library and runs it after the other examples wrote data/wal. */
#include <stdio.h>
#include <tswal.h>

static int on_samples(void *ctx, const wal_sample *s, size_t len) {
  size_t *samples = ctx;
  *samples += len;                  /* ship s[0..len): valid only during this call */
  (void)s;
  return 0;
}

int main(void) {
  wal_position saved;               /* a real shipper loads it from its own storage */
  wal_tail_t *t;
  if (wal_tail_open("data/wal", NULL /* or &saved: resume exactly there */, &t) != WAL_OK) {
    fprintf(stderr, "tail: %s\n", wal_last_error());
    return 1;
  }
  size_t samples = 0, idle = 0;
  while (idle < 3) {
    size_t n;
    wal_status st = wal_tail_next(t, NULL, on_samples, NULL, &samples, 1000, &n);
    if (st != WAL_OK) {             /* e.g. WAL_ERR_CORRUPTION: damage below the head */
      fprintf(stderr, "%s: %s\n", wal_status_str(st), wal_last_error());
      break;
    }
    idle = n == 0 ? idle + 1 : 0;   /* n == 0: the timeout passed with nothing new */
    if (n > 0 && wal_tail_position(t, &saved) == WAL_OK) {
      /* persist `saved`: a tail opened there later continues exactly */
    }
  }
  wal_tail_stats_t st;
  if (wal_tail_stats(t, &st) == WAL_OK && st.gaps > 0)
    fprintf(stderr, "truncation removed %llu segment(s) before they were read\n",
            (unsigned long long)st.gap_segments);
  printf("tail: %zu samples\n", samples);
  return wal_tail_close(t) == WAL_OK ? 0 : 1;
}
