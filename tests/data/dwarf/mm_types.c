/*
 * The kernel's page metadata structs, declared as Linux 6.18 x86_64 lays
 * them out (KERNEL.md 1.2 struct page, 1.3 struct folio, 1.6 struct slab
 * and struct ptdesc, all read from BTF): the same nesting of anonymous
 * unions and structs, the same member names, bitfields in struct slab.
 *
 * Uses in tests/test_layout_dwarf.py:
 *   gcc -g -c mm_types.c          -> an object whose DWARF `cachesim layout` reads
 *   gcc -o mm_types mm_types.c    -> a program printing what the compiler itself
 *                                    made of every member: the independent truth
 * Output lines: "STRUCT size N", "STRUCT MEMBER OFFSET SIZE",
 * "STRUCT MEMBER bit FIRST_BIT BITS" (bitfields: found by setting the field
 * to all ones in a zeroed struct and looking for the bits that changed).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;
typedef struct { unsigned long f; } memdesc_flags_t;
typedef struct { unsigned int val; } spinlock_t;
typedef struct { unsigned long val; } swp_entry_t;
typedef unsigned long pgoff_t;
typedef int mm_id_mapcount_t;
typedef unsigned int mm_id_t;

struct list_head { struct list_head *next, *prev; };
struct llist_node { struct llist_node *next; };
struct callback_head {
	struct callback_head *next;
	void (*func)(struct callback_head *head);
};
struct address_space;
struct page_pool;
struct dev_pagemap;
struct kmem_cache;
struct mm_struct;

struct page {
	memdesc_flags_t flags;
	union {
		struct {	/* page cache and anonymous pages */
			union {
				struct list_head lru;
				struct list_head buddy_list;
				struct list_head pcp_list;
				struct llist_node pcp_llist;
			};
			struct address_space *mapping;
			union {
				pgoff_t __folio_index;
				unsigned long share;
			};
			unsigned long private;
		};
		struct {	/* page_pool used by netstack */
			unsigned long pp_magic;
			struct page_pool *pp;
			unsigned long _pp_mapping_pad;
			unsigned long dma_addr;
			atomic_long_t pp_ref_count;
		};
		struct {	/* tail pages of compound page */
			unsigned long compound_head;
		};
		struct {	/* ZONE_DEVICE pages */
			void *_unused_pgmap_compound_head;
			void *zone_device_data;
		};
		struct callback_head callback_head;
	};
	union {
		unsigned int page_type;
		atomic_t _mapcount;
	};
	atomic_t _refcount;
	unsigned long memcg_data;
} __attribute__((aligned(16)));	/* HAVE_ALIGNED_STRUCT_PAGE */

struct folio {
	union {
		struct {
			memdesc_flags_t flags;
			union {
				struct list_head lru;
				struct {
					void *__filler;
					unsigned int mlock_count;
				};
				struct dev_pagemap *pgmap;
			};
			struct address_space *mapping;
			union {
				pgoff_t index;
				unsigned long share;
			};
			union {
				void *private;
				swp_entry_t swap;
			};
			atomic_t _mapcount;
			atomic_t _refcount;
			unsigned long memcg_data;
		};
		struct page page;
	};
	union {
		struct {
			unsigned long _flags_1;
			unsigned long _head_1;
			union {
				struct {
					atomic_t _large_mapcount;
					atomic_t _nr_pages_mapped;
					atomic_t _entire_mapcount;
					atomic_t _pincount;
					mm_id_mapcount_t _mm_id_mapcount[2];
					union {
						mm_id_t _mm_id[2];
						unsigned long _mm_ids;
					};
				};
			};
			atomic_t _mapcount_1;
			atomic_t _refcount_1;
			unsigned int _nr_pages;
		};
		struct page __page_1;
	};
	union {
		struct {
			unsigned long _flags_2;
			unsigned long _head_2;
			struct list_head _deferred_list;
		};
		struct page __page_2;
	};
	union {
		struct {
			unsigned long _flags_3;
			unsigned long _head_3;
			void *_hugetlb_subpool;
			void *_hugetlb_cgroup;
			void *_hugetlb_cgroup_rsvd;
			void *_hugetlb_hwpoison;
		};
		struct page __page_3;
	};
};

struct slab {
	memdesc_flags_t flags;
	struct kmem_cache *slab_cache;
	union {
		struct {
			union {
				struct list_head slab_list;
				struct {
					struct slab *next;
					int slabs;
				};
			};
			void *freelist;
			union {
				unsigned long counters;
				struct {
					unsigned inuse:16;
					unsigned objects:15;
					unsigned frozen:1;
				};
			};
		};
		struct callback_head callback_head;
	};
	unsigned int __page_type;
	atomic_t __page_refcount;
	unsigned long obj_exts;
};

struct ptdesc {
	memdesc_flags_t pt_flags;
	union {
		struct callback_head pt_rcu_head;
		struct list_head pt_list;
		struct {
			unsigned long _pt_pad_1;
			void *pmd_huge_pte;
		};
	};
	unsigned long __page_mapping;
	union {
		pgoff_t pt_index;
		struct mm_struct *pt_mm;
		atomic_t pt_frag_refcount;
	};
	union {
		unsigned long _pt_pad_2;
		spinlock_t ptl;
	};
	unsigned int __page_type;
	atomic_t __page_refcount;
	unsigned long pt_memcg_data;
};

/*
 * DWARF keeps only the types a translation unit uses. -DPAGE_UNIT or
 * -DSLAB_UNIT (with -DNO_MAIN) make a unit with only some of them, as a
 * vmlinux has: struct slab is defined only in the units that include mm/slab.h.
 */
#ifndef SLAB_UNIT
struct folio *use_folio;
#endif
#ifndef PAGE_UNIT
struct slab *use_slab;
struct ptdesc *use_ptdesc;
#endif

#ifndef NO_MAIN

#define S(s) printf(#s " size %zu\n", sizeof(struct s))
#define F(s, m) printf(#s " " #m " %zu %zu\n", offsetof(struct s, m), sizeof(((struct s *)0)->m))
#define B(s, m) do { \
		struct s x; unsigned char *b = (unsigned char *)&x; size_t i, first = 0, n = 0; \
		memset(&x, 0, sizeof x); x.m = -1; \
		for (i = 0; i < 8 * sizeof x; i++) \
			if (b[i / 8] >> (i % 8) & 1) { if (!n) first = i; n++; } \
		printf(#s " " #m " bit %zu %zu\n", first, n); \
	} while (0)

int main(void)
{
	S(list_head); F(list_head, next); F(list_head, prev);

	S(page);
	F(page, flags); F(page, lru); F(page, buddy_list); F(page, pcp_list); F(page, pcp_llist);
	F(page, mapping); F(page, __folio_index); F(page, share); F(page, private);
	F(page, pp_magic); F(page, pp); F(page, _pp_mapping_pad); F(page, dma_addr); F(page, pp_ref_count);
	F(page, compound_head); F(page, _unused_pgmap_compound_head); F(page, zone_device_data);
	F(page, callback_head); F(page, page_type); F(page, _mapcount); F(page, _refcount); F(page, memcg_data);

	S(folio);
	F(folio, flags); F(folio, lru); F(folio, __filler); F(folio, mlock_count); F(folio, pgmap);
	F(folio, mapping); F(folio, index); F(folio, share); F(folio, private); F(folio, swap);
	F(folio, _mapcount); F(folio, _refcount); F(folio, memcg_data); F(folio, page);
	F(folio, _flags_1); F(folio, _head_1); F(folio, _large_mapcount); F(folio, _nr_pages_mapped);
	F(folio, _entire_mapcount); F(folio, _pincount); F(folio, _mm_id_mapcount); F(folio, _mm_id);
	F(folio, _mm_ids); F(folio, _mapcount_1); F(folio, _refcount_1); F(folio, _nr_pages); F(folio, __page_1);
	F(folio, _flags_2); F(folio, _head_2); F(folio, _deferred_list); F(folio, __page_2);
	F(folio, _flags_3); F(folio, _head_3); F(folio, _hugetlb_subpool); F(folio, _hugetlb_cgroup);
	F(folio, _hugetlb_cgroup_rsvd); F(folio, _hugetlb_hwpoison); F(folio, __page_3);

	S(slab);
	F(slab, flags); F(slab, slab_cache); F(slab, slab_list); F(slab, next); F(slab, slabs);
	F(slab, freelist); F(slab, counters); B(slab, inuse); B(slab, objects); B(slab, frozen);
	F(slab, callback_head); F(slab, __page_type); F(slab, __page_refcount); F(slab, obj_exts);

	S(ptdesc);
	F(ptdesc, pt_flags); F(ptdesc, pt_rcu_head); F(ptdesc, pt_list); F(ptdesc, _pt_pad_1);
	F(ptdesc, pmd_huge_pte); F(ptdesc, __page_mapping); F(ptdesc, pt_index); F(ptdesc, pt_mm);
	F(ptdesc, pt_frag_refcount); F(ptdesc, _pt_pad_2); F(ptdesc, ptl); F(ptdesc, __page_type);
	F(ptdesc, __page_refcount); F(ptdesc, pt_memcg_data);
	return 0;
}
#endif
