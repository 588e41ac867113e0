package io.tether.daemon.mirror;

/**
 * What one session cost in round trips and bytes (for benchmarks and debugging): listings (one
 * readdir each), fetches and their bytes, write-backs and their bytes, validation requests, and host
 * changes applied (create, mkdir, unlink, rename...).
 */
public record MirrorStats(long listings, long fetches, long fetchedBytes, long uploads, long uploadedBytes,
                          long validations, long changes) {
    @Override
    public String toString() {
        return listings + " listings, " + fetches + " fetches (" + fetchedBytes + " bytes), " + uploads + " write-backs ("
                + uploadedBytes + " bytes), " + validations + " validations, " + changes + " changes";
    }

    /** Live counters of a session. */
    static final class Counters {
        final java.util.concurrent.atomic.LongAdder listings = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder fetches = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder fetchedBytes = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder uploads = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder uploadedBytes = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder validations = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder changes = new java.util.concurrent.atomic.LongAdder();

        /** Walks listed in one request each (also counted in listings), the directories they brought, and how many were used. */
        final java.util.concurrent.atomic.LongAdder walkListings = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder walkDirs = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder walkDirsApplied = new java.util.concurrent.atomic.LongAdder();

        /** Host changes pushed during the run, and the journal's at its start; the echoes of our own changes among them. */
        final java.util.concurrent.atomic.LongAdder pushes = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder journaled = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder echoes = new java.util.concurrent.atomic.LongAdder();
        /** unlink/rmdir of a name its listed directory lacks: answered ENOENT by the kernel, no round trip. */
        final java.util.concurrent.atomic.LongAdder removalsOfNothing = new java.util.concurrent.atomic.LongAdder();

        /** Where the time went (nanoseconds, summed over threads): for the debug line only. */
        final java.util.concurrent.atomic.LongAdder listWaitNs = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder applyNs = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder fetchWaitNs = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder fetchTotalNs = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder applyCpuNs = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder fetchCpuNs = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder hookNs = new java.util.concurrent.atomic.LongAdder();
        /** The tracee's opens of files whose contents were not here yet (in flight ahead, or fetched for it), and their wait. */
        final java.util.concurrent.atomic.LongAdder openWaits = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder openWaitNs = new java.util.concurrent.atomic.LongAdder();
        /** First opens the open gate held (FirstOpens), those it denied, and the time spent deciding them. */
        final java.util.concurrent.atomic.LongAdder heldOpens = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder deniedOpens = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder heldNs = new java.util.concurrent.atomic.LongAdder();

        static long cpuNs() {
            return java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        }

        /** The time counters, in milliseconds. */
        String timing() {
            return "walk listings " + walkListings.sum() + " (" + walkDirs.sum() + " directories, " + walkDirsApplied.sum() + " applied), "
                    + pushes.sum() + " pushed and " + journaled.sum() + " journaled host changes (" + echoes.sum() + " of them echoes of our own, dropped), "
                    + removalsOfNothing.sum() + " removals of names not there, "
                    + "listing wait " + listWaitNs.sum() / 1_000_000 + " ms, applying listings " + applyNs.sum() / 1_000_000
                    + " ms (CPU " + applyCpuNs.sum() / 1_000_000 + " ms), fetch wait " + fetchWaitNs.sum() / 1_000_000 + " ms, fetch local work " + (fetchTotalNs.sum() - fetchWaitNs.sum()) / 1_000_000
                    + " ms (CPU " + fetchCpuNs.sum() / 1_000_000 + " ms, waits included), in the tracer's hooks " + hookNs.sum() / 1_000_000 + " ms, "
                    + openWaits.sum() + " opens waited for contents (" + openWaitNs.sum() / 1_000_000 + " ms), "
                    + heldOpens.sum() + " first opens held by the open gate (" + deniedOpens.sum() + " denied, "
                    + heldNs.sum() / 1_000_000 + " ms deciding)";
        }

        MirrorStats snapshot() {
            return new MirrorStats(listings.sum(), fetches.sum(), fetchedBytes.sum(), uploads.sum(), uploadedBytes.sum(),
                    validations.sum(), changes.sum());
        }
    }
}
