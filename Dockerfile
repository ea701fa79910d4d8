# flowget job image for the Flink Kubernetes Operator (application mode), see k8s/README.md.
#
# Build from the repository root, after the cluster jar (Flink itself provided by the image):
#   mvn -q -Pcluster -DskipTests package
#   docker build -t flowget:0.1.0 .
#
# Base: the official Flink image, Flink 2.2 on Java 17 (the project's maven.compiler.release). The tag
# "2.2-java17" is an alias the flink-docker project publishes (2.2/scala_2.12-java17-ubuntu/
# release.metadata); it follows the newest 2.2.x patch, and the job is built against 2.2.1, whose API
# is the same across 2.2 patches. For reproducible builds, pin the digest: FROM flink:2.2-java17@sha256:...
# K8sManifestsTest checks that this tag's major.minor matches the pom's flink.version.
FROM flink:2.2-java17

# Plugins, loaded in their own class loaders from plugins/<name>/ as the image documents:
# - S3 file system for checkpoints, savepoints and HA storage (s3://). Presto's implementation is the
#   one Flink recommends for checkpointing. Copied with a glob because the jar name carries the exact
#   patch version of the base image.
# - Prometheus metrics reporter: the distribution ships it in plugins/metrics-prometheus already; the
#   fallback copies it from opt/ so the build fails here, not at run time, if that ever changes.
RUN set -eu; \
    mkdir -p "$FLINK_HOME/plugins/s3-fs-presto"; \
    cp "$FLINK_HOME"/opt/flink-s3-fs-presto-*.jar "$FLINK_HOME/plugins/s3-fs-presto/"; \
    if ! ls "$FLINK_HOME"/plugins/metrics-prometheus/flink-metrics-prometheus-*.jar >/dev/null 2>&1; then \
      mkdir -p "$FLINK_HOME/plugins/metrics-prometheus"; \
      cp "$FLINK_HOME"/opt/flink-metrics-prometheus-*.jar "$FLINK_HOME/plugins/metrics-prometheus/"; \
    fi; \
    mkdir -p "$FLINK_HOME/usrlib" /var/lib/flowget /data/out; \
    chown -R flink:flink "$FLINK_HOME/plugins" "$FLINK_HOME/usrlib" /var/lib/flowget /data/out

# The job jar, at the path the FlinkDeployments' job.jarURI names (local:///opt/flink/usrlib/flowget.jar).
COPY --chown=flink:flink job/target/flowget.jar /opt/flink/usrlib/flowget.jar

USER flink
