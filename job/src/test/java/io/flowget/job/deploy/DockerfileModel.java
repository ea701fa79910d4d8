package io.flowget.job.deploy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The repository's Dockerfile as build stages of instructions, parsed the way the Docker builder reads it: comment
 * lines dropped, backslash continuations joined, each stage from its {@code FROM image [AS name]}. Enough for the
 * tests to check what an image build would do without a Docker engine; no variable expansion.
 *
 * <p>Immutable; any thread.
 */
record DockerfileModel(List<Stage> stages) {

    /** One instruction: upper-case keyword and its argument text (continuations joined with a blank). */
    record Instruction(String keyword, String args) {
        /** The {@code --flag=value} options of a COPY/ADD, e.g. {@code from} or {@code chown}. */
        Optional<String> flag(String name) {
            for (String w : words()) {
                if (w.startsWith("--" + name + "=")) {
                    return Optional.of(w.substring(name.length() + 3));
                }
            }
            return Optional.empty();
        }

        /** The arguments split on blanks. */
        List<String> words() {
            return List.of(args.trim().split("\\s+"));
        }

        /** A COPY/ADD's sources and destination: the words that are not {@code --flags}; the last is the destination. */
        List<String> paths() {
            return words().stream().filter(w -> !w.startsWith("--")).toList();
        }
    }

    /** A build stage: its base image (digest removed), its name (empty when unnamed) and its instructions. */
    record Stage(String baseImage, String name, List<Instruction> instructions) {
        List<Instruction> all(String keyword) {
            return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
        }

        /**
         * The user each instruction runs as: {@code startUser} until a {@code USER} instruction changes it. Returns, for
         * each instruction, that user, in order.
         */
        List<String> usersAt(String startUser) {
            List<String> users = new ArrayList<>();
            String user = startUser;
            for (Instruction i : instructions) {
                if (i.keyword().equals("USER")) {
                    user = i.args().trim();
                }
                users.add(user);
            }
            return users;
        }
    }

    static DockerfileModel read(Path file) {
        return parse(RepoFiles.read(file));
    }

    static DockerfileModel parse(String text) {
        List<String> logical = new ArrayList<>();
        StringBuilder current = null;
        for (String raw : text.split("\n", -1)) {
            String line = raw.strip();
            if (line.startsWith("#") || (line.isEmpty() && current == null)) {
                continue; // comments may also sit between continuation lines
            }
            boolean continues = line.endsWith("\\");
            String body = continues ? line.substring(0, line.length() - 1).strip() : line;
            if (current == null) {
                current = new StringBuilder(body);
            } else if (!body.isEmpty()) {
                current.append(' ').append(body);
            }
            if (!continues) {
                logical.add(current.toString());
                current = null;
            }
        }
        if (current != null) {
            logical.add(current.toString());
        }

        List<Stage> stages = new ArrayList<>();
        List<Instruction> instructions = null;
        for (String l : logical) {
            int blank = l.indexOf(' ');
            String keyword = (blank < 0 ? l : l.substring(0, blank)).toUpperCase(Locale.ROOT);
            String args = blank < 0 ? "" : l.substring(blank + 1).strip();
            if (keyword.equals("FROM")) {
                String[] w = args.split("\\s+");
                String name = w.length >= 3 && w[1].equalsIgnoreCase("AS") ? w[2] : "";
                instructions = new ArrayList<>();
                stages.add(new Stage(w[0].replaceAll("@sha256:.*$", ""), name, instructions));
            } else if (instructions == null) {
                if (!keyword.equals("ARG")) {
                    throw new IllegalStateException("instruction before the first FROM: " + l);
                }
            } else {
                instructions.add(new Instruction(keyword, args));
            }
        }
        return new DockerfileModel(stages.stream().map(s -> new Stage(s.baseImage(), s.name(), List.copyOf(s.instructions()))).toList());
    }

    /** The last stage: the image that is built. */
    Stage runtime() {
        return stages.get(stages.size() - 1);
    }

    /** The runtime stage's one COPY of a jar (the job jar). */
    Instruction jarCopy() {
        List<Instruction> jars =
                runtime().all("COPY").stream().filter(c -> c.paths().get(0).endsWith(".jar")).toList();
        if (jars.size() != 1) {
            throw new IllegalStateException("expected one COPY of a jar in the runtime stage, got " + jars);
        }
        return jars.get(0);
    }
}
