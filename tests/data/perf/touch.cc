// touch.cc: test program for the perf readers' test data (tests/data/perf).
// Two threads each store to, then load from, 8 pages of one heap buffer.
// Thread names contain spaces and a colon; the accessor is a template, so
// its symbol contains a space: touch_pages<unsigned char>.
#include <pthread.h>
#include <sys/prctl.h>
#include <cstdio>
#include <cstdlib>

enum { PAGES = 8 };
static unsigned char *buf;

template <typename T> __attribute__((noinline)) long touch_pages(T *p, long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) p[i * 4096] = (T)i;          // stores
    for (long i = 0; i < n; i++) sum += p[i * 4096 + 8];      // loads
    return sum;
}

static void *worker(void *arg) {
    prctl(PR_SET_NAME, (unsigned long)"pf worker: 2", 0, 0, 0);
    return (void *)touch_pages(buf + (long)arg * 4096, (long)PAGES);
}

int main() {
    prctl(PR_SET_NAME, (unsigned long)"touch main", 0, 0, 0);
    buf = (unsigned char *)malloc((size_t)1 << 20);       // > mmap threshold: an anonymous mapping
    pthread_t t;
    pthread_create(&t, nullptr, worker, (void *)(long)PAGES);
    long s = touch_pages(buf, (long)PAGES);
    pthread_join(t, nullptr);
    std::printf("%ld\n", s);
    return 0;
}
