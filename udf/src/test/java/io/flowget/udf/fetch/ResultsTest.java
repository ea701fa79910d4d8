package io.flowget.udf.fetch;

import io.flowget.udf.http.FetchOutcome;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link Results}: the one result of a request, built from its download (and the outcome that completed it). */
class ResultsTest {
    private static Download download() {
        Download d = new Download(new FetchRequest("r1", "http://h.test/a", "h.test", "h.test/a"), System.currentTimeMillis() - 50);
        d.attempts = 2;
        return d;
    }

    @Test
    void okCarriesTheOutcomesSizeDigestsAndDecodedCoding() {
        FetchOutcome o = new FetchOutcome();
        o.status = 200;
        o.bytes = 12;
        o.sha256 = "aa";
        o.blake3 = "bb";
        o.decodedCoding = "gzip";

        FetchResult r = Results.ok(download(), o);

        assertThat(r.id).isEqualTo("r1");
        assertThat(r.url).isEqualTo("http://h.test/a");
        assertThat(r.status).isEqualTo(ResultStatus.OK);
        assertThat(r.httpStatus).isEqualTo(200);
        assertThat(r.bytes).isEqualTo(12);
        assertThat(r.sha256).isEqualTo("aa");
        assertThat(r.blake3).isEqualTo("bb");
        assertThat(r.contentEncoding).isEqualTo("gzip");
        assertThat(r.path).isEqualTo("h.test/a");
        assertThat(r.attempts).isEqualTo(2);
        assertThat(r.elapsedMs).isBetween(50L, 60_000L);
        assertThat(r.restarts).as("no restarts: left out").isNull();
        assertThat(r.error).isNull();
    }

    @Test
    void failedCarriesTheReasonAndTheLastStatusButNoPath() {
        Download d = download();
        d.restarts = 2;

        FetchResult r = Results.failed(d, null, "connect error: refused (after 2 attempts)");

        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.httpStatus).isNull();
        assertThat(r.error).isEqualTo("connect error: refused (after 2 attempts)");
        assertThat(r.path).isNull();
        assertThat(r.restarts).isEqualTo(2);
    }

    @Test
    void aFirstAttemptInTheFutureCountsAsZeroElapsed() {
        Download d = new Download(new FetchRequest("r", "http://h/a", "h", "a"), System.currentTimeMillis() + 60_000);

        assertThat(Results.base(d).elapsedMs).isZero();
    }

    @Test
    void aFinalizedChunkedFileReportsItsValidatorAndTheLastStatus() {
        Download d = download();
        d.validator = "Wed, 21 Oct 2015 07:28:00 GMT";
        d.validatorIsEtag = false;
        d.lastHttpStatus = 206;

        FetchOutcome o = Results.finalized(d, 5_000_000, "sha", null);

        assertThat(o.status).isEqualTo(206);
        assertThat(o.bytes).isEqualTo(5_000_000);
        assertThat(o.sha256).isEqualTo("sha");
        assertThat(o.blake3).isNull();
        assertThat(o.stored).isTrue();
        assertThat(o.lastModified).isEqualTo("Wed, 21 Oct 2015 07:28:00 GMT");
        assertThat(o.etag).isNull();
    }
}
