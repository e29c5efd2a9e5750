/* Excerpt of include/linux/gfp.h (Linux 2.6.24): flag #defines only, comments dropped. */
#define __GFP_DMA	((__force gfp_t)0x01u)
#define __GFP_HIGHMEM	((__force gfp_t)0x02u)
#define __GFP_DMA32	((__force gfp_t)0x04u)
#define __GFP_WAIT	((__force gfp_t)0x10u)
#define __GFP_HIGH	((__force gfp_t)0x20u)
#define __GFP_IO	((__force gfp_t)0x40u)
#define __GFP_FS	((__force gfp_t)0x80u)
#define __GFP_COLD	((__force gfp_t)0x100u)
#define __GFP_NOWARN	((__force gfp_t)0x200u)
#define __GFP_REPEAT	((__force gfp_t)0x400u)
#define __GFP_NOFAIL	((__force gfp_t)0x800u)
#define __GFP_NORETRY	((__force gfp_t)0x1000u)
#define __GFP_COMP	((__force gfp_t)0x4000u)
#define __GFP_ZERO	((__force gfp_t)0x8000u)
#define __GFP_NOMEMALLOC ((__force gfp_t)0x10000u)
#define __GFP_HARDWALL   ((__force gfp_t)0x20000u)
#define __GFP_THISNODE	((__force gfp_t)0x40000u)
#define __GFP_RECLAIMABLE ((__force gfp_t)0x80000u)
#define __GFP_MOVABLE	((__force gfp_t)0x100000u)

#define __GFP_BITS_SHIFT 21
#define __GFP_BITS_MASK ((__force gfp_t)((1 << __GFP_BITS_SHIFT) - 1))

#define GFP_NOWAIT	(GFP_ATOMIC & ~__GFP_HIGH)
#define GFP_ATOMIC	(__GFP_HIGH)
#define GFP_NOIO	(__GFP_WAIT)
#define GFP_NOFS	(__GFP_WAIT | __GFP_IO)
#define GFP_KERNEL	(__GFP_WAIT | __GFP_IO | __GFP_FS)
#define GFP_TEMPORARY	(__GFP_WAIT | __GFP_IO | __GFP_FS | \
			 __GFP_RECLAIMABLE)
#define GFP_USER	(__GFP_WAIT | __GFP_IO | __GFP_FS | __GFP_HARDWALL)
#define GFP_HIGHUSER	(__GFP_WAIT | __GFP_IO | __GFP_FS | __GFP_HARDWALL | \
			 __GFP_HIGHMEM)
#define GFP_HIGHUSER_MOVABLE	(__GFP_WAIT | __GFP_IO | __GFP_FS | \
				 __GFP_HARDWALL | __GFP_HIGHMEM | \
				 __GFP_MOVABLE)
#define GFP_NOFS_PAGECACHE	(__GFP_WAIT | __GFP_IO | __GFP_MOVABLE)
#define GFP_USER_PAGECACHE	(__GFP_WAIT | __GFP_IO | __GFP_FS | \
				 __GFP_HARDWALL | __GFP_MOVABLE)
#define GFP_HIGHUSER_PAGECACHE	(__GFP_WAIT | __GFP_IO | __GFP_FS | \
				 __GFP_HARDWALL | __GFP_HIGHMEM | \
				 __GFP_MOVABLE)

#ifdef CONFIG_NUMA
#define GFP_THISNODE	(__GFP_THISNODE | __GFP_NOWARN | __GFP_NORETRY)
#else
#define GFP_THISNODE	((__force gfp_t)0)
#endif

#define GFP_DMA		__GFP_DMA
#define GFP_DMA32	__GFP_DMA32
