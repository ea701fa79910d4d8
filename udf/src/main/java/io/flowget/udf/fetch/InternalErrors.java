package io.flowget.udf.fetch;

import io.flowget.udf.model.Bounded;

import org.apache.flink.runtime.execution.CancelTaskException;
import org.apache.flink.streaming.runtime.tasks.ExceptionInChainedOperatorException;

import java.util.IdentityHashMap;
import java.util.Map;

/**
 * What an exception raised while handling one request means for the operator (the charter's "one request's trouble
 * is one request's result"): either that request's internal error — it ends FAILED with {@link #reason} and the
 * operator goes on — or a broken runtime that must fail the task, because going on would lose or corrupt state:
 * the state backend (RocksDB) or the output (a chained sink), task cancellation and interruption. Stateless.
 */
final class InternalErrors {
    private InternalErrors() {}

    /**
     * True when {@code e} (or anything in its cause chain) says the runtime itself is broken: a RocksDB error, an
     * exception of a chained operator (the output), a cancelled task, an interrupt. Errors are never caught.
     */
    static boolean brokenRuntime(Throwable e) {
        Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        for (Throwable t = e; t != null && seen.put(t, Boolean.TRUE) == null; t = t.getCause()) {
            String name = t.getClass().getName();
            if (t instanceof InterruptedException
                    || t instanceof CancelTaskException
                    || t instanceof ExceptionInChainedOperatorException
                    || name.startsWith("org.rocksdb.")
                    || name.equals("org.apache.flink.runtime.state.StateAccessException")) {
                return true;
            }
        }
        return false;
    }

    /** The FAILED reason of a request that hit {@code e}: {@code internal error: <class>: <message>}, bounded. */
    static String reason(Throwable e) {
        String msg = e.getMessage();
        return Bounded.error("internal error: " + e.getClass().getName() + (msg == null ? "" : ": " + msg));
    }
}
