/*
 * Overlay on v4.6/gfp.h for Linux 4.4: bit 0x100000 is __GFP_NOACCOUNT there; 4.5
 * (a9bb7e620efd "memcg: only account kmem allocations marked as __GFP_ACCOUNT")
 * turned it into __GFP_ACCOUNT. The two #define lines are as they stand in the 4.4-cycle
 * gfp.h quoted by Mel Gorman's __GFP_WAIT split series (which gave 4.4 its layout).
 */
#undef ___GFP_ACCOUNT
#undef __GFP_ACCOUNT
#define ___GFP_NOACCOUNT	0x100000u
#define __GFP_NOACCOUNT	((__force gfp_t)___GFP_NOACCOUNT) /* Don't account to kmemcg */
