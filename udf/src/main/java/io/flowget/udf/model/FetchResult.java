package io.flowget.udf.model;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.Objects;

/**
 * The one terminal result of a request (CONTRACT.md, result event). JSON field names are the contract's
 * snake_case names; absent values are left out of the JSON.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public class FetchResult {
    @JsonProperty("id")
    public String id;

    @JsonProperty("url")
    public String url;

    @JsonProperty("status")
    public ResultStatus status;

    @JsonProperty("http_status")
    public Integer httpStatus;

    @JsonProperty("bytes")
    public Long bytes;

    @JsonProperty("sha256")
    public String sha256;

    /** BLAKE3 of the stored file, when {@code flowget.digest.blake3} is on (an extension of the contract). */
    @JsonProperty("blake3")
    public String blake3;

    @JsonProperty("path")
    public String path;

    @JsonProperty("content_encoding")
    public String contentEncoding;

    @JsonProperty("attempts")
    public Integer attempts;

    @JsonProperty("error")
    public String error;

    @JsonProperty("elapsed_ms")
    public Long elapsedMs;

    /** Times the download started over because the resource changed under it (absent when 0). */
    @JsonProperty("restarts")
    public Integer restarts;

    public FetchResult() {}

    /** A FAILED result with a reason, for requests that never reached the fetcher. */
    public static FetchResult failed(String id, String url, String error) {
        FetchResult r = new FetchResult();
        r.id = id;
        r.url = url;
        r.status = ResultStatus.FAILED;
        r.error = Bounded.error(error);
        r.attempts = 0;
        r.elapsedMs = 0L;
        return r;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof FetchResult)) {
            return false;
        }
        FetchResult that = (FetchResult) o;
        return Objects.equals(id, that.id)
                && Objects.equals(url, that.url)
                && status == that.status
                && Objects.equals(httpStatus, that.httpStatus)
                && Objects.equals(bytes, that.bytes)
                && Objects.equals(sha256, that.sha256)
                && Objects.equals(blake3, that.blake3)
                && Objects.equals(path, that.path)
                && Objects.equals(contentEncoding, that.contentEncoding)
                && Objects.equals(attempts, that.attempts)
                && Objects.equals(error, that.error)
                && Objects.equals(elapsedMs, that.elapsedMs)
                && Objects.equals(restarts, that.restarts);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, status);
    }

    @Override
    public String toString() {
        return "FetchResult{" + id + ' ' + status + (error != null ? " " + error : "") + ' ' + url + '}';
    }
}
