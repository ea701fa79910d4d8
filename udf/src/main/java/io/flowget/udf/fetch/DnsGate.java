package io.flowget.udf.fetch;

import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.CachingDnsResolver;

import org.apache.flink.util.function.ThrowingConsumer;
import org.apache.flink.util.function.ThrowingRunnable;

import java.util.HashSet;
import java.util.Set;

/**
 * The DNS gate (issue 12, "the task thread never waits on the network"): HttpClient resolves names on the thread
 * that calls {@code execute()}, so nothing is sent, and no host takes a permit, before its name answers from the
 * DNS cache. An uncached name is resolved on the DNS pool ({@link CachingDnsResolver#prefetch}, bounded by
 * {@code flowget.dns.timeout}) and the waiting host or attempt continues by mail once the lookup ended (its
 * result, success or failure, is then cached, and the attempt's own outcome says which). It decides and starts
 * lookups; the operator applies the continuation it passes in.
 *
 * <p>Not thread-safe: task thread only; the lookups' completions come back only through {@link Mail}.
 */
final class DnsGate {
    /** The operator's one way back onto the task thread. */
    interface Mail {
        void post(String name, ThrowingRunnable<? extends Exception> mail);
    }

    private final CachingDnsResolver dns;
    private final Mail mail;
    /** Hosts whose names are being resolved for the scheduler's gate (one lookup per name at a time). */
    private final Set<String> resolving = new HashSet<>();

    DnsGate(CachingDnsResolver dns, Mail mail) {
        this.dns = dns;
        this.mail = mail;
    }

    /**
     * The scheduler's gate: true when {@code host}'s name (a key: a host or a shard of one) answers from the DNS cache. Otherwise its name is resolved on the
     * DNS pool (once at a time) and {@code rejoin} gets the host by mail when the lookup ended; a slow lookup thus
     * neither holds a permit nor the task thread.
     */
    boolean nameResolved(String host, ThrowingConsumer<String, ? extends Exception> rejoin) {
        String name = HostShards.hostOf(host); // a shard key of a spread host names its host
        if (dns.answersAtOnce(name)) {
            return true;
        }
        if (resolving.add(host)) {
            dns.prefetch(name).whenComplete((ignored, e) -> mail.post("fetch-resolved-host", () -> {
                resolving.remove(host);
                rejoin.accept(host);
            }));
        }
        return false;
    }

    /**
     * Runs {@code send} at once when the attempt's current hop needs no lookup (its name answers from the cache, it
     * has no name, or the attempt was cancelled); otherwise resolves the name on the DNS pool first and hands the
     * attempt to {@code resolved} by mail. The attempt holds its permits meanwhile, so its timeouts (the sweeper)
     * still bound the wait (a redirect to a new name waits the same way).
     */
    void sendWhenResolved(Attempt a, Runnable send, ThrowingConsumer<Attempt, ? extends Exception> resolved) {
        String name = a.uri().getHost();
        if (name == null || a.cancelReason != null || dns.answersAtOnce(name)) {
            send.run();
            return;
        }
        dns.prefetch(name).whenComplete((ignored, e) -> mail.post("fetch-resolved", () -> resolved.accept(a)));
    }
}
