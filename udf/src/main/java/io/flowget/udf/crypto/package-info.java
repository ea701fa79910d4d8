/**
 * Encrypted payloads: the schemes flowget decrypts ({@link io.flowget.udf.crypto.DecryptScheme}), a download's
 * decryption descriptor ({@link io.flowget.udf.crypto.Decryption}, no key material) and where keys come from
 * ({@link io.flowget.udf.crypto.KeyProvider}: a directory of key files, the environment, or a deployment's own
 * class, chained by {@link io.flowget.udf.crypto.KeyProviders}). The decryption itself is a stage of
 * {@link io.flowget.udf.body.BodyPipeline}. Keys never enter state, Kafka, logs or results.
 */
package io.flowget.udf.crypto;
