//! Process-wide memory settings, made once at the start of `main` by every csx process.

/// Turns transparent huge pages off for this process.
///
/// mimalloc (the allocator of `csx` and `csx-bench`) asks the kernel for huge pages on its
/// arenas, and each thread's first allocation takes a fresh page: the kernel then zeroes 2 MiB
/// to hand out a few kilobytes. A daemon starts and ends short-lived threads all the time (the
/// blocking pool that reads the store), so with 60 daemons forming a federation on 2 cores,
/// zeroing huge pages took 29 % of all CPU time (perf, docs/PERFORMANCE.md "Formation"). With
/// huge pages off, pages are 4 KiB and zeroed as they are used.
///
/// The kernel checks the setting at each page fault, so what was mapped before this call gets
/// small pages from now on too. Where the kernel refuses (not Linux, or too old), nothing changes.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // Best effort: a kernel without PR_SET_THP_DISABLE (before 3.15) keeps its default.
        let _ = nix::sys::prctl::set_thp_disable(true);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_no_longer_uses_transparent_huge_pages() {
        super::no_transparent_huge_pages();
        assert!(nix::sys::prctl::get_thp_disable().expect("PR_GET_THP_DISABLE"));
    }
}
