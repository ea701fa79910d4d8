# flowget job image for the Flink Kubernetes Operator (application mode), see k8s/README.md.
#
# Build from the repository root; the image builds the job itself, nothing from the host's target/ is used:
#   docker build -t flowget:0.1.0 .
#
# Two stages. "build" compiles the cluster jar (cluster/target/flowget-cluster.jar: the job without Flink, the
# embedded broker, Jetty or a logging backend; see cluster/pom.xml). The runtime stage is the official Flink image
# plus that one jar, the plugins and the directories the FlinkDeployments use. DockerfileTest checks the stages,
# the user, the jar's name and path, and the directories against the manifests.

# ---- build: Maven on the JDK of the project's maven.compiler.release ---------------------------------------
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
# Poms first: the dependency layer is cached until a pom changes.
COPY pom.xml ./
COPY udf/pom.xml udf/
COPY job/pom.xml job/
COPY cluster/pom.xml cluster/
COPY udf/src udf/src
COPY job/src job/src
COPY cluster/src cluster/src
# -DskipTests: the tests ran in CI on the same commit; -pl cluster -am builds udf, job, cluster only.
RUN mvn -q -B -DskipTests -pl cluster -am package

# ---- runtime ---------------------------------------------------------------------------------------------
# Base: the official Flink image, Flink 2.2 on Java 17 (the project's maven.compiler.release). The tag
# "2.2-java17" is an alias the flink-docker project publishes (2.2/scala_2.12-java17-ubuntu/
# release.metadata); it follows the newest 2.2.x patch, and the job is built against 2.2.1, whose API
# is the same across 2.2 patches. For reproducible builds, pin the digest: FROM flink:2.2-java17@sha256:...
# K8sManifestsTest checks that this tag's major.minor matches the pom's flink.version.
FROM flink:2.2-java17

# The base image ends as USER flink: root only for the set-up below, then back to flink.
USER root
# Plugins, loaded in their own class loaders from plugins/<name>/ as the image documents:
# - S3 file system for checkpoints, savepoints and HA storage (s3://). Presto's implementation is the
#   one Flink recommends for checkpointing. Copied with a glob because the jar name carries the exact
#   patch version of the base image.
# - Prometheus metrics reporter: the distribution ships it in plugins/metrics-prometheus already; the
#   fallback copies it from opt/ so the build fails here, not at run time, if that ever changes.
# Directories the flink user writes: RocksDB's local dir and the output tree (both also volumes in the
# FlinkDeployments, but the image must work without them, e.g. `docker run ... standalone-job`).
RUN set -eu; \
    mkdir -p "$FLINK_HOME/plugins/s3-fs-presto"; \
    cp "$FLINK_HOME"/opt/flink-s3-fs-presto-*.jar "$FLINK_HOME/plugins/s3-fs-presto/"; \
    if ! ls "$FLINK_HOME"/plugins/metrics-prometheus/flink-metrics-prometheus-*.jar >/dev/null 2>&1; then \
      mkdir -p "$FLINK_HOME/plugins/metrics-prometheus"; \
      cp "$FLINK_HOME"/opt/flink-metrics-prometheus-*.jar "$FLINK_HOME/plugins/metrics-prometheus/"; \
    fi; \
    mkdir -p "$FLINK_HOME/usrlib" /var/lib/flowget/rocksdb /data/out; \
    chown -R flink:flink "$FLINK_HOME/usrlib" /var/lib/flowget /data/out

# The cluster jar only, at the path the FlinkDeployments' job.jarURI names.
COPY --from=build --chown=flink:flink /src/cluster/target/flowget-cluster.jar /opt/flink/usrlib/flowget-cluster.jar
# Logging for `standalone-job` outside the operator (the operator's logConfiguration replaces this file).
COPY --chown=flink:flink conf/log4j2.properties /opt/flink/conf/log4j-console.properties

USER flink
