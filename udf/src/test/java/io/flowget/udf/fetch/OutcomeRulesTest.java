package io.flowget.udf.fetch;

import io.flowget.udf.body.Digests;
import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.http.Attempt;
import io.flowget.udf.http.ContentRange;
import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ConnectException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link OutcomeRules}: the typed verdict for every kind of answer, pinned with real values. Pure: no operator, no
 * network; downloads, attempts and outcomes are built by hand as the operator would hand them over.
 */
class OutcomeRulesTest {
    private static final long NOW = 1_700_000_000_000L;
    private static final String URL = "http://origin.test/dir/file.bin";

    /** Defaults, except 3 attempts, 100 ms..1 s backoff, Retry-After capped at 60 s and 4 redirects. */
    private final OutcomeRules rules =
            new OutcomeRules(
                    FetchFixtures.settings(
                            c -> {
                                c.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 3);
                                c.set(FlowgetOptions.RETRY_INITIAL_BACKOFF, Duration.ofMillis(100));
                                c.set(FlowgetOptions.RETRY_MAX_BACKOFF, Duration.ofSeconds(1));
                                c.set(FlowgetOptions.RETRY_MAX_RETRY_AFTER, Duration.ofSeconds(60));
                                c.set(FlowgetOptions.HTTP_MAX_REDIRECTS, 4);
                                c.set(FlowgetOptions.HTTP_IDLE_TIMEOUT, Duration.ofSeconds(30));
                            }));

    static Download download() {
        return new Download(new FetchRequest("id-1", URL, "origin.test", "origin.test/file.bin"), NOW);
    }

    static Attempt probe() {
        Attempt a = new Attempt("origin.test", 7, URL, NOW, NOW + 60_000);
        a.probe = true;
        return a;
    }

    static Attempt whole() {
        return new Attempt("origin.test", 7, URL, NOW, NOW + 60_000);
    }

    static FetchOutcome answer(int status) {
        FetchOutcome o = new FetchOutcome();
        o.status = status;
        return o;
    }

    /** A stored 206 with {@code Content-Range: bytes first-last/complete}. */
    static FetchOutcome partial(long first, long last, long complete) {
        FetchOutcome o = answer(206);
        o.contentRange = new ContentRange(first, last, complete);
        o.stored = true;
        o.rangeFirst = first;
        o.rangeLast = last;
        o.bytes = last - first + 1;
        return o;
    }

    @Nested
    class Whole {
        @Test
        void aProbe206ThatCoversTheWholeFileSucceedsWithThatOutcome() {
            FetchOutcome o = partial(0, 999, 1000);

            Decision d = rules.whole(download(), probe(), o, NOW);

            assertThat(d).isEqualTo(new Decision.Succeed(o));
        }

        @Test
        void aProbe206OfALargerFileWithAStrongEtagPlansChunksOnTheEtag() {
            FetchOutcome o = partial(0, 262_143, 5_000_000);
            o.etag = " \"v1\" ";
            o.lastModified = "Wed, 21 Oct 2015 07:28:00 GMT";

            Decision d = rules.whole(download(), probe(), o, NOW);

            assertThat(d).isEqualTo(new Decision.PlanChunks(5_000_000, "\"v1\"", true, 262_143));
        }

        @Test
        void aWeakEtagFallsBackToLastModified() {
            FetchOutcome o = partial(0, 262_143, 5_000_000);
            o.etag = "W/\"v1\"";
            o.lastModified = " Wed, 21 Oct 2015 07:28:00 GMT";

            Decision d = rules.whole(download(), probe(), o, NOW);

            assertThat(d).isEqualTo(new Decision.PlanChunks(5_000_000, "Wed, 21 Oct 2015 07:28:00 GMT", false, 262_143));
        }

        @Test
        void aProbe206IsTrustedOnlyWithExactlyItsRangeAndNoCoding() {
            FetchOutcome shortBody = partial(0, 262_143, 5_000_000);
            shortBody.etag = "\"v1\"";
            shortBody.bytes = 1000;
            FetchOutcome shortWhole = partial(0, 999, 1000);
            shortWhole.bytes = 10;
            FetchOutcome coded = partial(0, 999, 1000);
            coded.decodedCoding = "gzip";

            assertThat(rules.whole(download(), probe(), shortBody, NOW)).isEqualTo(new Decision.SingleStream());
            assertThat(rules.whole(download(), probe(), shortWhole, NOW)).isEqualTo(new Decision.SingleStream());
            assertThat(rules.whole(download(), probe(), coded, NOW)).isEqualTo(new Decision.SingleStream());
        }

        @Test
        void anAnnouncedTotalOverMaxBytesOrImplausibleFailsBeforeAnyPlan() {
            FetchOutcome o = partial(0, 262_143, 5_000_000);
            o.etag = "\"v1\"";
            Download limited = download();
            limited.request.maxBytes = 2_000_000L;
            FetchOutcome lie = partial(0, 262_143, 1L << 62);
            lie.etag = "\"v1\"";

            assertThat(rules.whole(limited, probe(), o, NOW)).isEqualTo(new Decision.Fail(206,
                    "max_bytes exceeded (limit 2000000 bytes): the origin announced 5000000"));
            assertThat(rules.whole(download(), probe(), lie, NOW))
                    .isEqualTo(new Decision.Fail(206, "implausible Content-Range total " + (1L << 62)));
        }

        @Test
        void aWeakEtagAloneIsNoValidatorSoOneStream() {
            FetchOutcome o = partial(0, 262_143, 5_000_000);
            o.etag = "W/\"v1\"";

            assertThat(rules.whole(download(), probe(), o, NOW)).isEqualTo(new Decision.SingleStream());
        }

        @Test
        void anUnquotedEtagIsNotStrong() {
            FetchOutcome o = partial(0, 262_143, 5_000_000);
            o.etag = "v1";

            assertThat(rules.whole(download(), probe(), o, NOW)).isEqualTo(new Decision.SingleStream());
        }

        @Test
        void aProbe206WithUnknownLengthOrNotStoredIsOneStream() {
            FetchOutcome star = partial(0, 262_143, -1);
            star.etag = "\"v1\"";
            FetchOutcome notStored = partial(0, 262_143, 5_000_000);
            notStored.etag = "\"v1\"";
            notStored.stored = false; // e.g. Content-Range not starting at 0
            FetchOutcome noRange = answer(206);
            noRange.stored = true;
            noRange.etag = "\"v1\"";

            assertThat(rules.whole(download(), probe(), star, NOW)).isEqualTo(new Decision.SingleStream());
            assertThat(rules.whole(download(), probe(), notStored, NOW)).isEqualTo(new Decision.SingleStream());
            assertThat(rules.whole(download(), probe(), noRange, NOW)).isEqualTo(new Decision.SingleStream());
        }

        @Test
        void a416ToTheProbeIsOneStream() {
            assertThat(rules.whole(download(), probe(), answer(416), NOW)).isEqualTo(new Decision.SingleStream());
        }

        @Test
        void a416ToAPlainGetFails() {
            assertThat(rules.whole(download(), whole(), answer(416), NOW)).isEqualTo(new Decision.Fail(416, "http 416"));
        }

        @Test
        void a2xxOtherThan206Succeeds() {
            FetchOutcome ok = answer(200);
            FetchOutcome noContent = answer(204);

            assertThat(rules.whole(download(), probe(), ok, NOW)).isEqualTo(new Decision.Succeed(ok));
            assertThat(rules.whole(download(), whole(), noContent, NOW)).isEqualTo(new Decision.Succeed(noContent));
        }

        @Test
        void a304IsNotModified() {
            assertThat(rules.whole(download(), probe(), answer(304), NOW)).isEqualTo(new Decision.NotModified());
            assertThat(rules.whole(download(), whole(), answer(304), NOW)).isEqualTo(new Decision.NotModified());
        }

        @Test
        void a206ToARequestWithoutRangeFails() {
            assertThat(rules.whole(download(), whole(), partial(0, 9, 10), NOW))
                    .isEqualTo(new Decision.Fail(206, "http 206 to a request without Range"));
        }

        @Test
        void a503WithRetryAfterRetriesAfterItsDelay() {
            FetchOutcome o = answer(503);
            o.retryAfter = "7";

            assertThat(rules.whole(download(), whole(), o, NOW)).isEqualTo(new Decision.Retry("http 503", 7_000));
        }

        @Test
        void retryAfterIsCappedAndAnHttpDateCountsFromNow() {
            FetchOutcome tooLong = answer(429);
            tooLong.retryAfter = "3600";
            FetchOutcome date = answer(503);
            date.retryAfter = "Tue, 14 Nov 2023 22:13:40 GMT"; // NOW + 20 s

            assertThat(rules.whole(download(), whole(), tooLong, NOW)).isEqualTo(new Decision.Retry("http 429", 60_000));
            assertThat(rules.whole(download(), whole(), date, NOW)).isEqualTo(new Decision.Retry("http 503", 20_000));
        }

        @Test
        void aRetryableStatusWithoutRetryAfterAsksForTheBackoff() {
            assertThat(rules.whole(download(), whole(), answer(500), NOW)).isEqualTo(new Decision.Retry("http 500", -1));
            assertThat(rules.whole(download(), whole(), answer(408), NOW)).isEqualTo(new Decision.Retry("http 408", -1));
        }

        @Test
        void clientErrorsAndUnretryable5xxFail() {
            assertThat(rules.whole(download(), whole(), answer(404), NOW)).isEqualTo(new Decision.Fail(404, "http 404"));
            assertThat(rules.whole(download(), whole(), answer(403), NOW)).isEqualTo(new Decision.Fail(403, "http 403"));
            assertThat(rules.whole(download(), whole(), answer(501), NOW)).isEqualTo(new Decision.Fail(501, "http 501"));
            assertThat(rules.whole(download(), whole(), answer(505), NOW)).isEqualTo(new Decision.Fail(505, "http 505"));
        }

        @Test
        void aRedirectStatusThatReachesTheRulesHadNoUsableLocation() {
            assertThat(rules.whole(download(), whole(), answer(302), NOW))
                    .isEqualTo(new Decision.Fail(302, "http 302 without usable Location"));
            assertThat(rules.whole(download(), whole(), answer(300), NOW))
                    .isEqualTo(new Decision.Fail(300, "http 300 without usable Location"));
        }

        @Test
        void transientErrorsRetryOnTheBackoffAndPermanentOnesFailWithTheLastStatus() {
            Download d = download();
            d.lastHttpStatus = 503;

            assertThat(rules.whole(d, whole(), FetchOutcome.failure(new ConnectException("Connection refused")), NOW))
                    .isEqualTo(new Decision.Retry("connect error: Connection refused", -1));
            assertThat(rules.whole(d, whole(), FetchOutcome.failure(new javax.net.ssl.SSLHandshakeException("PKIX")), NOW))
                    .isEqualTo(new Decision.Fail(503, "tls: PKIX"));
        }

        @Test
        void aCancelledAttemptUsesItsCancelReason() {
            Attempt a = whole();
            a.cancel("timeout: no response headers within 10s");
            Attempt shutdown = whole();
            shutdown.cancel("shutdown");

            assertThat(rules.whole(download(), a, FetchOutcome.failure(new IOException("cancelled")), NOW))
                    .isEqualTo(new Decision.Retry("timeout: no response headers within 10s", -1));
            assertThat(rules.whole(download(), shutdown, FetchOutcome.failure(new IOException("x")), NOW))
                    .isEqualTo(new Decision.Fail(null, "shutdown"));
        }
    }

    @Nested
    class Chunk {
        private Download chunked(long length, long[] done) {
            Download d = download();
            d.mode = Download.CHUNKED;
            d.length = length;
            d.validator = "\"v1\"";
            d.validatorIsEtag = true;
            d.done = done;
            return d;
        }

        private Attempt chunkAttempt(long first, long last) {
            return FetchFixtures.chunkAttempt("origin.test", 7, new long[] {first, last});
        }

        @Test
        void aStored206IsAStoredChunkCompleteOnlyWhenEveryByteIsDone() {
            Download partlyDone = chunked(1000, new long[] {0, 499});
            Download allDone = chunked(1000, new long[] {0, 999});

            assertThat(rules.chunk(partlyDone, chunkAttempt(250, 499), partial(250, 499, 1000), NOW))
                    .isEqualTo(new Decision.ChunkStored(false));
            assertThat(rules.chunk(allDone, chunkAttempt(500, 999), partial(500, 999, 1000), NOW))
                    .isEqualTo(new Decision.ChunkStored(true));
        }

        @Test
        void aChangedResourceStartsOver() {
            Download d = chunked(1000, new long[] {0, 249});
            FetchOutcome changed = answer(206);
            changed.changed = true;

            assertThat(rules.chunk(d, chunkAttempt(250, 499), changed, NOW)).isEqualTo(new Decision.StartOver(true));
            assertThat(rules.chunk(d, chunkAttempt(250, 499), answer(412), NOW)).isEqualTo(new Decision.StartOver(true));
            assertThat(rules.chunk(d, chunkAttempt(250, 499), answer(416), NOW)).isEqualTo(new Decision.StartOver(true));
        }

        @Test
        void a200WithAnotherOrNoValidatorIsAnIfRangeMismatchAndStartsOver() {
            Download d = chunked(1000, new long[] {0, 249});
            FetchOutcome other = answer(200);
            other.etag = "\"v2\"";

            assertThat(rules.chunk(d, chunkAttempt(250, 499), other, NOW)).isEqualTo(new Decision.StartOver(true));
            assertThat(rules.chunk(d, chunkAttempt(250, 499), answer(200), NOW)).isEqualTo(new Decision.StartOver(true));
        }

        @Test
        void a200WithTheSameValidatorMeansRangesStoppedWorkingSoOneStream() {
            Download d = chunked(1000, new long[] {0, 249});
            FetchOutcome same = answer(200);
            same.etag = " \"v1\"";
            Download byDate = chunked(1000, new long[] {0, 249});
            byDate.validator = "Wed, 21 Oct 2015 07:28:00 GMT";
            byDate.validatorIsEtag = false;
            FetchOutcome sameDate = answer(200);
            sameDate.lastModified = "Wed, 21 Oct 2015 07:28:00 GMT";
            sameDate.etag = "\"whatever\"";

            assertThat(rules.chunk(d, chunkAttempt(250, 499), same, NOW)).isEqualTo(new Decision.SingleStream());
            assertThat(rules.chunk(byDate, chunkAttempt(250, 499), sameDate, NOW)).isEqualTo(new Decision.SingleStream());
        }

        @Test
        void anUnstored206IsOneStream() {
            FetchOutcome unusable = answer(206); // e.g. no Content-Range

            assertThat(rules.chunk(chunked(1000, Intervals.EMPTY), chunkAttempt(0, 249), unusable, NOW))
                    .isEqualTo(new Decision.SingleStream());
        }

        @Test
        void retryableStatusesRetryAndOthersFail() {
            Download d = chunked(1000, Intervals.EMPTY);
            FetchOutcome busy = answer(503);
            busy.retryAfter = "2";

            assertThat(rules.chunk(d, chunkAttempt(0, 249), busy, NOW)).isEqualTo(new Decision.Retry("http 503", 2_000));
            assertThat(rules.chunk(d, chunkAttempt(0, 249), answer(500), NOW)).isEqualTo(new Decision.Retry("http 500", -1));
            assertThat(rules.chunk(d, chunkAttempt(0, 249), answer(404), NOW)).isEqualTo(new Decision.Fail(404, "http 404"));
            assertThat(rules.chunk(d, chunkAttempt(0, 249), answer(304), NOW)).isEqualTo(new Decision.Fail(304, "http 304"));
        }

        @Test
        void errorsAreClassifiedAsForWholeBodies() {
            Download d = chunked(1000, Intervals.EMPTY);

            assertThat(rules.chunk(d, chunkAttempt(0, 249), FetchOutcome.failure(new java.net.SocketTimeoutException("Read timed out")), NOW))
                    .isEqualTo(new Decision.Retry("timeout: no data for 30s", -1));
        }
    }

    @Nested
    class Redirect {
        private FetchOutcome to(String location) {
            FetchOutcome o = answer(302);
            o.location = location;
            return o;
        }

        @Test
        void resolvesARelativeLocationAgainstTheCurrentUrl() {
            assertThat(rules.redirect(whole(), to("other.bin"))).isEqualTo(new Decision.Redirect("http://origin.test/dir/other.bin"));
            assertThat(rules.redirect(whole(), to(" /top.bin "))).isEqualTo(new Decision.Redirect("http://origin.test/top.bin"));
            assertThat(rules.redirect(whole(), to("//cdn.test/x"))).isEqualTo(new Decision.Redirect("http://cdn.test/x"));
        }

        @Test
        void stripsTheFragment() {
            assertThat(rules.redirect(whole(), to("https://cdn.test/x?q=1#part"))).isEqualTo(new Decision.Redirect("https://cdn.test/x?q=1"));
        }

        @Test
        void stopsAtTheHopLimit() {
            Attempt a = whole();
            a.hops = 3;
            Attempt atLimit = whole();
            atLimit.hops = 4;

            assertThat(rules.redirect(a, to("/next"))).isEqualTo(new Decision.Redirect("http://origin.test/next"));
            assertThat(rules.redirect(atLimit, to("/next"))).isEqualTo(new Decision.Fail(302, "too many redirects (more than 4)"));
        }

        @Test
        void detectsALoopOverVisitedUrls() {
            Attempt a = whole();
            a.visited.add("http://origin.test/b");

            assertThat(rules.redirect(a, to("/b"))).isEqualTo(new Decision.Fail(302, "redirect loop at http://origin.test/b"));
            assertThat(rules.redirect(whole(), to(URL + "#again"))).isEqualTo(new Decision.Fail(302, "redirect loop at " + URL));
        }

        @Test
        void refusesBadLocationsAndOtherSchemes() {
            assertThat(rules.redirect(whole(), to("http://bad host/x"))).isEqualTo(new Decision.Fail(302, "invalid redirect Location: http://bad host/x"));
            assertThat(rules.redirect(whole(), to("http:///nohost"))).isEqualTo(new Decision.Fail(302, "invalid redirect Location: http:///nohost"));
            assertThat(rules.redirect(whole(), to("ftp://example.org/x"))).isEqualTo(new Decision.Fail(302, "redirect to unsupported URL scheme 'ftp'"));
            assertThat(rules.redirect(whole(), to("javascript:alert(1)"))).isEqualTo(new Decision.Fail(302, "redirect to unsupported URL scheme 'javascript'"));
            assertThat(rules.redirect(whole(), to("HTTPS://CDN.test/x"))).isEqualTo(new Decision.Redirect("https://cdn.test/x"));
        }

        @Test
        void refusesTargetsTheHttpClientCouldNotUse() {
            assertThat(rules.redirect(whole(), to("http://127.0.0.1:70000/x")))
                    .isEqualTo(new Decision.Fail(302, "invalid redirect target: invalid port 70000"));
            assertThat(rules.redirect(whole(), to("http://127.0.0.1:0/x")))
                    .isEqualTo(new Decision.Fail(302, "invalid redirect target: invalid port 0"));
            assertThat(rules.redirect(whole(), to("/" + "a".repeat(9000))))
                    .isEqualTo(new Decision.Fail(302, "invalid redirect Location: over 8192 characters"));
            assertThat(rules.redirect(whole(), to("http://" + "a".repeat(300) + "/x")))
                    .isInstanceOf(Decision.Fail.class);
        }
    }

    @Nested
    class Turn {
        @Test
        void pastItsDeadlineTheRequestFailsWithTheLastError() {
            Download d = download();
            d.request.deadline = NOW;
            d.lastError = "http 503";
            d.lastHttpStatus = 503;
            Download quiet = download();
            quiet.request.deadline = NOW - 1;

            // Pinned as found: the turn's deadline FAIL drops the last status (503 here), while afterFailure's
            // deadline FAIL keeps it (see AfterFailure.failsWhenWaitingWouldPassTheDeadline).
            assertThat(rules.turn(d, false, false, null, NOW)).isEqualTo(new Decision.Fail(null, "deadline exceeded (last error: http 503)"));
            assertThat(rules.turn(quiet, true, false, "refused", NOW)).isEqualTo(new Decision.Fail(null, "deadline exceeded"));
        }

        @Test
        void aRefusedHostFailsTheDownloadOnlyWhenNothingIsInFlight() {
            Download d = download();
            d.lastHttpStatus = 502;

            assertThat(rules.turn(d, true, false, "host unreachable: x", NOW)).isEqualTo(new Decision.Fail(502, "host unreachable: x"));
            assertThat(rules.turn(d, false, false, "host unreachable: x", NOW)).isEqualTo(new Decision.Nothing());
        }

        @Test
        void aFinalizingDownloadIssuesNothing() {
            Download d = download();
            d.mode = Download.CHUNKED;
            d.length = 10;
            d.done = new long[] {0, 9};

            assertThat(rules.turn(d, true, true, null, NOW)).isEqualTo(new Decision.Nothing());
        }

        @Test
        void aWholeBodyStartsWhenIdle() {
            Download probe = download();
            Download single = download();
            single.mode = Download.SINGLE;

            assertThat(rules.turn(probe, true, false, null, NOW)).isEqualTo(new Decision.Start());
            assertThat(rules.turn(single, true, false, null, NOW)).isEqualTo(new Decision.Start());
            assertThat(rules.turn(probe, false, false, null, NOW)).isEqualTo(new Decision.Nothing());
        }

        @Test
        void aChunkedDownloadIssuesChunksUntilCompleteThenFinalizesWhenIdle() {
            Download d = download();
            d.mode = Download.CHUNKED;
            d.length = 1000;
            d.done = new long[] {0, 499};
            Download complete = download();
            complete.mode = Download.CHUNKED;
            complete.length = 1000;
            complete.done = new long[] {0, 999};
            complete.request.deadline = NOW + 1;

            assertThat(rules.turn(d, true, false, null, NOW)).isEqualTo(new Decision.NextChunk());
            assertThat(rules.turn(d, false, false, null, NOW)).isEqualTo(new Decision.NextChunk());
            assertThat(rules.turn(complete, true, false, null, NOW)).isEqualTo(new Decision.Finalize());
            assertThat(rules.turn(complete, false, false, null, NOW)).isEqualTo(new Decision.Nothing());
        }
    }

    @Nested
    class AfterFailure {
        private final SplittableRandom random = new SplittableRandom(1);

        @Test
        void wholeBodiesFailWhenTheirAttemptsRanOut() {
            Download d = download();
            d.attempts = 3;
            d.lastHttpStatus = 500;

            assertThat(rules.afterFailure(d, new Decision.Retry("http 500", -1), false, NOW, random))
                    .isEqualTo(new Decision.Fail(500, "http 500 (after 3 attempts)"));
        }

        @Test
        void chunksCountConsecutiveFailuresNotAttempts() {
            Download d = download();
            d.attempts = 40; // many chunks went out
            d.failures = 2;
            Download exhausted = download();
            exhausted.failures = 3;

            assertThat(rules.afterFailure(d, new Decision.Retry("http 500", 250), true, NOW, random))
                    .isEqualTo(new Decision.Retry("http 500", 250));
            assertThat(rules.afterFailure(exhausted, new Decision.Retry("connection closed: x", -1), true, NOW, random))
                    .isEqualTo(new Decision.Fail(null, "connection closed: x (after 3 failed chunk attempts)"));
        }

        @Test
        void keepsTheRetryAfterDelay() {
            Download d = download();
            d.attempts = 1;

            assertThat(rules.afterFailure(d, new Decision.Retry("http 429", 0), false, NOW, random))
                    .isEqualTo(new Decision.Retry("http 429", 0));
            assertThat(rules.afterFailure(d, new Decision.Retry("http 429", 45_000), false, NOW, random))
                    .isEqualTo(new Decision.Retry("http 429", 45_000));
        }

        @Test
        void otherwiseWaitsTheJitteredExponentialBackoff() {
            Download first = download();
            first.attempts = 1;
            Download second = download();
            second.attempts = 2;

            Decision.Retry r1 = (Decision.Retry) rules.afterFailure(first, new Decision.Retry("x", -1), false, NOW, random);
            Decision.Retry r2 = (Decision.Retry) rules.afterFailure(second, new Decision.Retry("x", -1), false, NOW, random);

            assertThat(r1.reason()).isEqualTo("x");
            assertThat(r1.afterMillis()).isBetween(50L, 100L);
            assertThat(r2.afterMillis()).isBetween(100L, 200L);
        }

        @Test
        void failsWhenWaitingWouldPassTheDeadline() {
            Download d = download();
            d.attempts = 1;
            d.lastHttpStatus = 503;
            d.lastError = "http 503";
            d.request.deadline = NOW + 5_000;

            assertThat(rules.afterFailure(d, new Decision.Retry("http 503", 4_999), false, NOW, random))
                    .isEqualTo(new Decision.Retry("http 503", 4_999));
            assertThat(rules.afterFailure(d, new Decision.Retry("http 503", 5_000), false, NOW, random))
                    .isEqualTo(new Decision.Fail(503, "deadline exceeded (last error: http 503)"));
        }
    }

    @Nested
    class Finalized {
        @Test
        void aDigestOfTheRightLengthSucceedsWithTheValidatorAndTheLastStatus() {
            Download d = download();
            d.mode = Download.CHUNKED;
            d.length = 3;
            d.validator = "\"v1\"";
            d.validatorIsEtag = true;

            Decision.Succeed s = (Decision.Succeed) rules.finalized(d, new Digests.FileDigest(3, "ab", null), null);

            assertThat(s.outcome().status).as("no status seen yet: a 206 by definition").isEqualTo(206);
            assertThat(s.outcome().bytes).isEqualTo(3);
            assertThat(s.outcome().sha256).isEqualTo("ab");
            assertThat(s.outcome().etag).isEqualTo("\"v1\"");
            assertThat(s.outcome().lastModified).isNull();
            assertThat(s.outcome().stored).isTrue();
        }

        @Test
        void aWrongLengthOrAReadErrorFails() {
            Download d = download();
            d.length = 4;
            d.lastHttpStatus = 206;

            assertThat(rules.finalized(d, new Digests.FileDigest(3, "ab", null), null))
                    .isEqualTo(new Decision.Fail(206, "length mismatch (expected 4, got 3)"));
            assertThat(rules.finalized(d, null, new IOException("disk gone")))
                    .isEqualTo(new Decision.Fail(206, "storage error: disk gone"));
        }

        @Test
        void aFileThatIsGoneStartsOver() {
            // Restored from a checkpoint before the one that would have published it: the bytes went with the crash.
            assertThat(rules.finalized(download(), null, new NoSuchFileException("out/a.bin")))
                    .isEqualTo(new Decision.StartOver(false));
        }
    }
}
