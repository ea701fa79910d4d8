package io.flowget.job.cli;

import io.flowget.job.release.KubernetesApi;
import io.flowget.job.release.Promotion;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code flowget promote}: acts on a canary verdict in the cluster ({@link Promotion}).
 *
 * <pre>
 * flowget promote --verdict PASS|FAIL [--namespace NS] [--deployment NAME] [--shadow NAME] [--image IMAGE]
 *                 [--api-server URL [--token-file FILE] [--ca-cert FILE]]
 * </pre>
 *
 * PASS: production's FlinkDeployment takes the candidate's image (the shadow's, unless {@code --image}), which the
 * operator rolls out as a savepoint upgrade; FAIL: the shadow is suspended and production left untouched. Without
 * {@code --api-server} it uses the pod's service account (the release Job, {@code k8s/release/}). Prints what it did
 * as one JSON line. Exit status: 0 promoted (or already on that image), 1 FAIL handled (the shadow is suspended), 64
 * usage error, 70 internal error (the API server refused or did not answer).
 */
@Command(
        name = "promote",
        mixinStandardHelpOptions = true,
        description = "Promote the shadow's candidate into production on PASS; suspend the shadow on FAIL.")
final class PromoteCommand implements Callable<Integer> {
    /** Exit status after a FAIL verdict was carried out: the release did not promote. */
    static final int EXIT_NOT_PROMOTED = 1;

    @Option(names = "--verdict", required = true, paramLabel = "PASS|FAIL", description = "The canary's verdict.")
    Promotion.Verdict verdict;

    @Option(names = "--namespace", defaultValue = "flowget", description = "Namespace of the FlinkDeployments (default: ${DEFAULT-VALUE}).")
    String namespace;

    @Option(names = "--deployment", defaultValue = "flowget", description = "Production's FlinkDeployment (default: ${DEFAULT-VALUE}).")
    String deployment;

    @Option(names = "--shadow", defaultValue = "flowget-shadow", description = "The shadow's FlinkDeployment (default: ${DEFAULT-VALUE}).")
    String shadow;

    @Option(names = "--image", paramLabel = "IMAGE", description = "The candidate image (default: the shadow's spec.image).")
    String image;

    @Option(names = "--api-server", paramLabel = "URL", description = "Kubernetes API server (default: in-cluster).")
    URI apiServer;

    @Option(names = "--token-file", paramLabel = "FILE", description = "Bearer token for --api-server.")
    Path tokenFile;

    @Option(names = "--ca-cert", paramLabel = "FILE", description = "CA certificate(s) of --api-server (PEM).")
    Path caCert;

    @Override
    public Integer call() throws Exception {
        if (deployment.equals(shadow)) {
            throw new UsageException("--deployment and --shadow name the same FlinkDeployment");
        }
        if (image != null && image.isBlank()) {
            throw new UsageException("--image is empty");
        }
        KubernetesApi api;
        if (apiServer == null) {
            if (tokenFile != null || caCert != null) {
                throw new UsageException("--token-file and --ca-cert go with --api-server");
            }
            api = KubernetesApi.inCluster();
        } else {
            for (Path f : new Path[] {tokenFile, caCert}) {
                if (f != null && !Files.isReadable(f)) {
                    throw new UsageException("cannot read " + f);
                }
            }
            api = new KubernetesApi(
                    apiServer,
                    tokenFile == null ? Optional.empty() : Optional.of(Files.readString(tokenFile).trim()),
                    Optional.ofNullable(caCert));
        }
        Promotion.Outcome outcome;
        try {
            outcome = new Promotion(api, namespace, deployment, shadow).apply(verdict, image);
        } catch (KubernetesApi.ApiException e) {
            System.err.println("flowget promote: " + e.getMessage());
            return ExitCodes.INTERNAL;
        }
        System.out.println(outcome.json());
        return verdict == Promotion.Verdict.PASS ? ExitCodes.OK : EXIT_NOT_PROMOTED;
    }
}
