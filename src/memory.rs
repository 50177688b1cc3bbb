//! The daemon's heap between cycles. A refresh walk parses up to 1,050 pages in a burst; what
//! it allocated is freed when the cycle has taken its result, but glibc keeps freed memory in
//! its heap (it only gives back the top of the heap, above a threshold), so an idle daemon
//! would stay resident at its last walk's high-water mark. `malloc_trim(0)` hands every free
//! page inside the heap back to the kernel (`madvise(MADV_DONTNEED)`), which measured 1.3 MiB
//! of RssAnon on an idle daemon after a walk of the 1,000-book test site (BENCHMARKS.md,
//! "The daemon's footprint"). It walks the heap's free lists once: microseconds for a few MiB,
//! once per cycle.

/// Returns the heap's free pages to the kernel; `true` if any memory was released. A no-op
/// (`false`) where the C library is not glibc.
pub fn release_free_heap() -> bool {
    imp::release_free_heap()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    pub(super) fn release_free_heap() -> bool {
        // SAFETY: malloc_trim takes glibc's arena locks itself; it is safe to call from any
        // thread at any time, with any pad (0: keep nothing spare at the top of the heap).
        unsafe { libc::malloc_trim(0) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(super) fn release_free_heap() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_memory_goes_back_to_the_kernel() {
        // Many small blocks (below the mmap threshold, so they live in the heap), most freed
        // with the last one kept: the heap's top cannot shrink past it, only trim frees them.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 2048]).collect();
        let last = blocks.pop();
        drop(blocks);
        assert!(
            super::release_free_heap(),
            "8 MiB freed inside the heap, none released"
        );
        drop(last);
    }
}
