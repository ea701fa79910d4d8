/**
 * The body path of a download: {@link io.flowget.udf.body.BodyPipeline} removes the response's content-codings
 * (gzip, deflate, zstd, br, stacked) as a push-style stream with fixed, small buffers borrowed per call from
 * {@link io.flowget.udf.body.DecodeBuffers} (a download waiting for bytes holds none), enforces {@code max_bytes}
 * and a decode-ratio guard while decoding, computes SHA-256 (and optionally BLAKE3) of the stored bytes and
 * hands them to a {@link io.flowget.udf.body.ByteSink}. Failures are {@link io.flowget.udf.body.BodyException}s
 * whose message is the result's {@code error} text. {@link io.flowget.udf.body.Digests} hashes finished files
 * (chunked downloads). {@link io.flowget.udf.body.ContentCoding} parses {@code Content-Encoding} and builds
 * {@code Accept-Encoding}.
 */
package io.flowget.udf.body;
