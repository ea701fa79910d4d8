package io.flowget.udf.model;

/** Terminal status of a request (CONTRACT.md, result event). */
public enum ResultStatus {
    OK,
    NOT_MODIFIED,
    FAILED
}
