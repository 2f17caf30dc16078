/* Small deterministic workload for the Cachegrind reference test.
 *
 * Built statically (gcc -O1 -static) and run once under lackey and once
 * under cachegrind with identical cwd/env/argv/stdio (see
 * tests/valgrind_ref.py).  Access patterns exercised:
 *   1. linked-list walk over shuffled heap nodes (pointer chasing)
 *   2. strided array sweep (stride 68 bytes: hits every set eventually)
 *   3. read-modify-write a[i] += 1 (lackey 'M' records)
 *   4. memcpy of a 100-byte struct placed so that it straddles lines
 *   5. unaligned 8-byte loads/stores crossing 32- and 64-byte boundaries
 * Everything is sized so the lackey trace stays at a few 100k lines.
 * The only output is one checksum line on stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NNODES 600
#define ARR_INTS 8192 /* 32 KiB */
#define STRIDE 17      /* ints: 68 bytes */
#define NSTRUCT 40

struct node {
    struct node *next;
    long value;
    char pad[32]; /* 48-byte nodes: some straddle 32-byte lines */
};

struct rec {
    char bytes[100];
};

static int arr[ARR_INTS];
static unsigned char buf[4096] __attribute__((aligned(64)));
static struct rec src_recs[NSTRUCT];
static unsigned char dst_area[NSTRUCT * sizeof(struct rec) + 128]
    __attribute__((aligned(64)));

static uint32_t lcg_state = 12345u;
static uint32_t lcg(void) {
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state >> 8;
}

/* Out-of-line so that the compiler really emits one 8-byte unaligned
 * mov per call. */
__attribute__((noinline)) static uint64_t load8(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
__attribute__((noinline)) static void store8(unsigned char *p, uint64_t v) {
    memcpy(p, &v, sizeof v);
}
__attribute__((noinline)) static void rmw8(unsigned char *p) {
    /* addq $k, (mem) on an unaligned address: an 'M' record that may
     * straddle */
    *(uint64_t *)(void *)p += 3;
}

static long list_walk(void) {
    struct node **nodes = malloc(NNODES * sizeof *nodes);
    for (int i = 0; i < NNODES; i++) {
        nodes[i] = malloc(sizeof(struct node));
        nodes[i]->value = i;
    }
    /* Fisher-Yates shuffle of the visiting order */
    for (int i = NNODES - 1; i > 0; i--) {
        int j = (int)(lcg() % (uint32_t)(i + 1));
        struct node *t = nodes[i];
        nodes[i] = nodes[j];
        nodes[j] = t;
    }
    for (int i = 0; i < NNODES - 1; i++)
        nodes[i]->next = nodes[i + 1];
    nodes[NNODES - 1]->next = NULL;
    long sum = 0;
    for (int rep = 0; rep < 4; rep++)
        for (struct node *n = nodes[0]; n; n = n->next)
            sum += n->value;
    for (int i = 0; i < NNODES; i++)
        free(nodes[i]);
    free(nodes);
    return sum;
}

static long strided_sweep(void) {
    long sum = 0;
    for (int rep = 0; rep < 4; rep++)
        for (int i = rep; i < ARR_INTS; i += STRIDE)
            sum += arr[i];
    return sum;
}

static void rmw_pass(void) {
    for (int i = 0; i < ARR_INTS; i += 3)
        arr[i] += 1;
}

static long struct_copies(void) {
    long sum = 0;
    for (int i = 0; i < NSTRUCT; i++)
        for (int k = 0; k < 100; k++)
            src_recs[i].bytes[k] = (char)(i * 7 + k);
    /* destination offset 13: 100-byte records straddle 64-byte lines */
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < NSTRUCT; i++) {
            struct rec *d =
                (struct rec *)(void *)(dst_area + 13 + i * sizeof(struct rec));
            memcpy(d, &src_recs[(i + rep) % NSTRUCT], sizeof(struct rec));
            sum += d->bytes[99];
        }
    return sum;
}

static uint64_t unaligned(void) {
    uint64_t acc = 0;
    for (int i = 0; i < 4096; i++)
        buf[i] = (unsigned char)(i * 31);
    /* offsets 28..35 cross a 32-byte boundary at 32, offsets 57..63
     * cross the 64-byte boundary; include aligned ones for contrast */
    static const int offs[] = {0, 8, 25, 28, 31, 32, 57, 60, 63, 64, 90, 121};
    for (int rep = 0; rep < 2; rep++)
        for (int base = 0; base < 4096 - 128; base += 128)
            for (unsigned k = 0; k < sizeof offs / sizeof offs[0]; k++) {
                unsigned char *p = buf + base + offs[k];
                uint64_t v = load8(p);
                acc ^= v + (uint64_t)k;
                store8(p + 1, v ^ acc);
                rmw8(p + 2);
            }
    return acc;
}

int main(void) {
    for (int i = 0; i < ARR_INTS; i++)
        arr[i] = i;
    long a = list_walk();
    long b = strided_sweep();
    rmw_pass();
    long c = strided_sweep();
    long d = struct_copies();
    uint64_t e = unaligned();
    printf("%ld %ld %ld %ld %llx\n", a, b, c, d, (unsigned long long)e);
    return 0;
}
