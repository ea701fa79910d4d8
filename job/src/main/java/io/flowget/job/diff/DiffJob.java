package io.flowget.job.diff;

import io.flowget.job.JobOptions;
import io.flowget.job.kafka.KafkaProperties;
import io.flowget.udf.sql.DiffKinds;
import io.flowget.udf.sql.FlowgetSqlFunctions;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.bridge.java.StreamStatementSet;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.api.config.ExecutionConfigOptions;
import org.apache.flink.table.api.config.TableConfigOptions;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The diff job ({@code flowget diff}): Flink SQL over the results topics of production (primary), a candidate
 * build (the shadow) and optionally a secondary (a second shadow running the production build), that reports
 * every request on which the candidate disagrees with production and a per-window summary for
 * {@code flowget canary}.
 *
 * <p><b>Time and matching.</b> Results carry no timestamp of their own, so event time is the Kafka record
 * timestamp (the {@code timestamp} metadata column; the producer's clock when the result was sent), with a
 * bounded-out-of-orderness watermark ({@link DiffOptions#WATERMARK_DELAY}) per partition. Event time rather than
 * processing time, because the result is then the same whenever and however fast the diff runs: a re-run over
 * the same topics, a diff that restarts from a checkpoint, and the bounded test run all decide identically. The
 * results of one request id are matched within {@link DiffOptions#JOIN_INTERVAL} of each other, as an event-time
 * session window per request id (gap = the interval) over the union of the sides: one window aggregation is an
 * outer three-way interval join in one step. It holds every side's result of the request (none, one or more),
 * so a result without a partner within the interval comes out of the same operator as a row with an empty side,
 * reported as {@code unmatched_primary} / {@code unmatched_candidate}, never as a match, once the watermark has
 * passed it. A chain of FULL OUTER interval joins would do the same for two sides, but its output time attribute
 * is NULL on the padded side, which neither the secondary's join nor the summary window can use.
 *
 * <p><b>What is compared.</b> {@code DIFF_KINDS} compares status, http_status, bytes, sha256, the error's class
 * ({@code ERROR_CLASS}, not the message) and latency ({@code LATENCY_REGRESSION}: ratio and least delta from
 * {@link DiffOptions}). With a secondary, the kinds in which primary and secondary disagree for the request are
 * noise and removed from the candidate's ({@code WITHOUT_NOISE}); with no secondary result for a request,
 * nothing is removed.
 *
 * <p><b>Outputs.</b> The diffs topic gets one JSON record per disagreeing or unmatched request: {@code id},
 * {@code url}, {@code kinds}, {@code noise}, the {@code primary}, {@code candidate} and {@code secondary} results
 * (status, http_status, bytes, sha256, error, elapsed_ms), {@code first_seen} and {@code decided_at}. The summary
 * topic gets one record per {@link DiffOptions#SUMMARY_WINDOW} (by {@code decided_at}, the event time at which
 * the request's comparison closed): {@code compared} (requests with both a primary and a candidate result),
 * {@code matched}, {@code differing}, {@code diff_<kind>} per kind, {@code unmatched_primary},
 * {@code unmatched_candidate}, {@code with_secondary}, {@code noisy} (compared requests on which primary and
 * secondary disagreed) and the {@code latency_primary} / {@code latency_candidate} histograms of the compared
 * requests ({@code LATENCY_HISTOGRAM}). Both sinks use {@code flowget.kafka.delivery-guarantee}.
 *
 * <p><b>Bounded runs.</b> With {@code bounded}, each source reads from the earliest offset to the end offsets
 * at start and the job finishes; end of input advances the watermark to the end, so every open comparison is
 * decided. Unbounded, the sources start from the group's committed offsets (earliest for a new group).
 *
 * <pre>{@code
 * StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
 * new DiffJob(conf, false).build(env);
 * env.execute("flowget diff");
 * }</pre>
 */
public final class DiffJob {
    private static final Logger LOG = LoggerFactory.getLogger(DiffJob.class);

    /** The comparable fields of a result, as read from the results topics. */
    private static final String RESULT_COLUMNS =
            "`status` STRING, `http_status` INT, `bytes` BIGINT, `sha256` STRING, `error` STRING, `elapsed_ms` BIGINT";

    private final Configuration config;
    private final boolean bounded;

    public DiffJob(Configuration config, boolean bounded) {
        this.config = config;
        this.bounded = bounded;
        if (!config.contains(JobOptions.KAFKA_BOOTSTRAP_SERVERS)) {
            throw new IllegalArgumentException(JobOptions.KAFKA_BOOTSTRAP_SERVERS.key() + " is not set");
        }
        if (config.get(DiffOptions.JOIN_INTERVAL).toMillis() < 1) {
            throw new IllegalArgumentException(DiffOptions.JOIN_INTERVAL.key() + " must be positive");
        }
    }

    /** Adds the diff pipelines (diffs and summary sinks) to {@code env}. */
    public void build(StreamExecutionEnvironment env) {
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
        // Per-partition idleness: a stopped shadow must not stall the watermark (see DiffOptions#IDLE_TIMEOUT).
        tEnv.getConfig().set(ExecutionConfigOptions.TABLE_EXEC_SOURCE_IDLE_TIMEOUT, config.get(DiffOptions.IDLE_TIMEOUT));
        // Planner-made uids: the project runs with pipeline.auto-generate-uids=false, and a savepoint of the diff
        // restores into the same query of the same Flink version.
        tEnv.getConfig().set(ExecutionConfigOptions.TABLE_EXEC_UID_GENERATION, ExecutionConfigOptions.UidGeneration.ALWAYS);
        tEnv.getConfig().set(TableConfigOptions.LOCAL_TIME_ZONE, "UTC");
        FlowgetSqlFunctions.ALL.forEach(tEnv::createTemporarySystemFunction);
        for (String ddl : definitions()) {
            tEnv.executeSql(ddl);
        }
        StreamStatementSet set = tEnv.createStatementSet();
        set.addInsertSql(insertDiffs());
        set.addInsertSql(insertSummary());
        set.attachAsDataStream();
        LOG.info(
                "Diff job: primary {}, candidate {}, secondary {}, interval {}, bounded {}",
                config.get(DiffOptions.PRIMARY_TOPIC),
                config.get(DiffOptions.CANDIDATE_TOPIC),
                config.getOptional(DiffOptions.SECONDARY_TOPIC).orElse("(none)"),
                config.get(DiffOptions.JOIN_INTERVAL),
                bounded);
    }

    /** Every statement, DDL first then the two INSERTs, for logs and docs. */
    public List<String> statements() {
        List<String> all = new ArrayList<>(definitions());
        all.add(insertDiffs());
        all.add(insertSummary());
        return all;
    }

    // ---- SQL -------------------------------------------------------------------------------------------

    private List<String> definitions() {
        List<String> ddl = new ArrayList<>();
        ddl.add(sourceTable("primary_results", config.get(DiffOptions.PRIMARY_TOPIC), "primary"));
        ddl.add(sourceTable("candidate_results", config.get(DiffOptions.CANDIDATE_TOPIC), "candidate"));
        boolean secondary = config.getOptional(DiffOptions.SECONDARY_TOPIC).isPresent();
        if (secondary) {
            ddl.add(sourceTable("secondary_results", config.get(DiffOptions.SECONDARY_TOPIC), "secondary"));
        }
        StringBuilder union = new StringBuilder("CREATE TEMPORARY VIEW results_by_side AS\n");
        union.append(sideSelect("P", "primary_results"));
        union.append("UNION ALL\n").append(sideSelect("C", "candidate_results"));
        if (secondary) {
            union.append("UNION ALL\n").append(sideSelect("S", "secondary_results"));
        }
        ddl.add(union.toString());
        ddl.add(perRequestView());
        ddl.add(judgedView());
        ddl.add(diffsTable());
        ddl.add(summaryTable());
        return ddl;
    }

    private String sourceTable(String name, String topic, String groupSuffix) {
        StringBuilder with = new StringBuilder();
        with.append(opt("connector", "kafka"));
        with.append(opt("topic", topic));
        kafkaProperties(with);
        with.append(opt("properties.bootstrap.servers", config.get(JobOptions.KAFKA_BOOTSTRAP_SERVERS)));
        with.append(opt("properties.group.id", config.get(DiffOptions.GROUP_ID) + "-" + groupSuffix));
        // The flowget jobs write results in transactions: count only committed ones.
        with.append(opt("properties.isolation.level", "read_committed"));
        if (bounded) {
            with.append(opt("scan.startup.mode", "earliest-offset"));
            with.append(opt("scan.bounded.mode", "latest-offset"));
        } else {
            with.append(opt("scan.startup.mode", "group-offsets"));
            with.append(opt("properties.auto.offset.reset", "earliest"));
        }
        with.append(opt("format", "json"));
        // A record that is not a result (foreign producer, truncated) is skipped rather than failing the diff.
        with.append(opt("json.ignore-parse-errors", "true"));
        with.append(last(opt("json.fail-on-missing-field", "false")));
        return "CREATE TEMPORARY TABLE " + name + " (\n"
                + "  `id` STRING,\n"
                + "  `url` STRING,\n"
                + "  " + RESULT_COLUMNS.replace(", ", ",\n  ") + ",\n"
                + "  ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,\n"
                + "  WATERMARK FOR ts AS ts - " + interval(config.get(DiffOptions.WATERMARK_DELAY)) + "\n"
                + ") WITH (\n" + with + ")";
    }

    private static String sideSelect(String side, String table) {
        return "SELECT '" + side + "' AS side, `id`, `url`, `status`, `http_status`, `bytes`, `sha256`, `error`,"
                + " `elapsed_ms`, ts\n"
                + "FROM " + table + " WHERE id IS NOT NULL\n";
    }

    /**
     * One row per request id and session: every side's fields (NULL when the side has no result) and how many
     * results each side had. A side with two results of one id in a session (at-least-once delivery, or the
     * same id requested twice) is compared by its fields' maxima.
     */
    private String perRequestView() {
        StringBuilder sb = new StringBuilder("CREATE TEMPORARY VIEW per_request AS\nSELECT\n");
        sb.append("  `id`,\n  window_start AS first_seen,\n  window_time AS decided_at,\n  MAX(`url`) AS `url`,\n");
        for (String side : List.of("P", "C", "S")) {
            String p = side.toLowerCase(Locale.ROOT) + "_";
            sb.append("  COUNT(*) FILTER (WHERE side = '").append(side).append("') AS ").append(p).append("n,\n");
            for (String col : List.of("status", "http_status", "bytes", "sha256", "error", "elapsed_ms")) {
                sb.append("  MAX(`").append(col).append("`) FILTER (WHERE side = '").append(side).append("') AS ")
                        .append(p).append(col).append(",\n");
            }
        }
        sb.setLength(sb.length() - 2);
        sb.append("\nFROM TABLE(SESSION(TABLE results_by_side PARTITION BY `id`, DESCRIPTOR(ts), ")
                .append(interval(config.get(DiffOptions.JOIN_INTERVAL)))
                .append("))\nGROUP BY `id`, window_start, window_end, window_time");
        return sb.toString();
    }

    private String judgedView() {
        String raw = diffKinds("c");
        String noise = diffKinds("s");
        return "CREATE TEMPORARY VIEW judged AS\n"
                + "SELECT *,\n"
                + "  CASE\n"
                + "    WHEN p_n > 0 AND c_n > 0 THEN WITHOUT_NOISE(raw_kinds, noise)\n"
                + "    WHEN p_n > 0 THEN " + kindArray(DiffKinds.UNMATCHED_PRIMARY) + "\n"
                + "    WHEN c_n > 0 THEN " + kindArray(DiffKinds.UNMATCHED_CANDIDATE) + "\n"
                + "  END AS kinds\n"
                + "FROM (\n"
                + "  SELECT *,\n"
                // A result without status is not one flowget wrote: count it as a status difference.
                + "    CASE WHEN p_n > 0 AND c_n > 0 THEN COALESCE(" + raw + ", " + kindArray(DiffKinds.STATUS)
                + ") END AS raw_kinds,\n"
                + "    CASE WHEN p_n > 0 AND s_n > 0 THEN " + noise + " END AS noise\n"
                + "  FROM per_request\n"
                + ")";
    }

    /** DIFF_KINDS of the primary against side {@code x} ("c" candidate, "s" secondary). */
    private String diffKinds(String x) {
        return String.format(
                Locale.ROOT,
                "DIFF_KINDS(p_status, %1$s_status, p_http_status, %1$s_http_status, p_bytes, %1$s_bytes,"
                        + " p_sha256, %1$s_sha256, ERROR_CLASS(p_error), ERROR_CLASS(%1$s_error),"
                        + " LATENCY_REGRESSION(p_elapsed_ms, %1$s_elapsed_ms, CAST(%2$s AS DOUBLE), CAST(%3$d AS BIGINT)))",
                x,
                Double.toString(config.get(DiffOptions.LATENCY_RATIO)),
                config.get(DiffOptions.LATENCY_MIN_DELTA).toMillis());
    }

    private static String kindArray(String kind) {
        return "CAST(ARRAY['" + kind + "'] AS ARRAY<STRING>)";
    }

    private String diffsTable() {
        String row = "ROW<" + RESULT_COLUMNS + ">";
        return "CREATE TEMPORARY TABLE diffs_sink (\n"
                + "  `id` STRING,\n  `url` STRING,\n  kinds ARRAY<STRING>,\n  noise ARRAY<STRING>,\n"
                + "  `primary` " + row + ",\n  candidate " + row + ",\n  secondary " + row + ",\n"
                + "  first_seen TIMESTAMP_LTZ(3),\n  decided_at TIMESTAMP_LTZ(3)\n"
                + ") WITH (\n" + sinkOptions(config.get(DiffOptions.DIFFS_TOPIC), "diffs", true) + ")";
    }

    private String summaryTable() {
        StringBuilder cols = new StringBuilder();
        cols.append("  window_start TIMESTAMP_LTZ(3),\n  window_end TIMESTAMP_LTZ(3),\n");
        cols.append("  compared BIGINT,\n  matched BIGINT,\n  differing BIGINT,\n");
        for (String k : DiffKinds.FIELDS) {
            cols.append("  diff_").append(k).append(" BIGINT,\n");
        }
        cols.append("  unmatched_primary BIGINT,\n  unmatched_candidate BIGINT,\n");
        cols.append("  with_secondary BIGINT,\n  noisy BIGINT,\n");
        cols.append("  latency_primary MAP<STRING, BIGINT>,\n  latency_candidate MAP<STRING, BIGINT>\n");
        return "CREATE TEMPORARY TABLE summary_sink (\n" + cols + ") WITH (\n"
                + sinkOptions(config.get(DiffOptions.SUMMARY_TOPIC), "summary", false) + ")";
    }

    /** {@code flowget.kafka.properties.*} as the Kafka SQL connector's {@code properties.*} pass-through. */
    private void kafkaProperties(StringBuilder with) {
        KafkaProperties.map(config).forEach((k, v) -> {
            if (!OWN_KAFKA_SETTINGS.contains(k)) { // a repeated WITH key is an error; flowget's own win
                with.append(opt("properties." + k, v));
            }
        });
    }

    /** Kafka settings the diff's tables set themselves. */
    private static final java.util.Set<String> OWN_KAFKA_SETTINGS =
            java.util.Set.of(
                    "bootstrap.servers", "group.id", "isolation.level", "auto.offset.reset", "transaction.timeout.ms");

    private String sinkOptions(String topic, String suffix, boolean keyedById) {
        DeliveryGuarantee guarantee = config.get(JobOptions.KAFKA_DELIVERY_GUARANTEE);
        StringBuilder with = new StringBuilder();
        with.append(opt("connector", "kafka"));
        with.append(opt("topic", topic));
        kafkaProperties(with);
        with.append(opt("properties.bootstrap.servers", config.get(JobOptions.KAFKA_BOOTSTRAP_SERVERS)));
        with.append(opt("sink.delivery-guarantee", guarantee.name().toLowerCase(Locale.ROOT).replace('_', '-')));
        if (guarantee == DeliveryGuarantee.EXACTLY_ONCE) {
            with.append(opt("sink.transactional-id-prefix", config.get(DiffOptions.TRANSACTIONAL_ID_PREFIX) + "-" + suffix));
            with.append(opt(
                    "properties.transaction.timeout.ms",
                    Long.toString(config.get(JobOptions.KAFKA_TRANSACTION_TIMEOUT).toMillis())));
        }
        if (keyedById) {
            // Keyed by request id, like the results topics.
            with.append(opt("key.format", "raw"));
            with.append(opt("key.fields", "id"));
            with.append(opt("value.fields-include", "ALL"));
        }
        with.append(opt("value.format", "json"));
        with.append(opt("value.json.timestamp-format.standard", "ISO-8601"));
        with.append(last(opt("value.json.encode.ignore-null-fields", "true")));
        return with.toString();
    }

    private static String insertDiffs() {
        return "INSERT INTO diffs_sink\n"
                + "SELECT `id`, `url`, kinds, noise,\n"
                + "  " + sideRow("p") + ",\n"
                + "  " + sideRow("c") + ",\n"
                + "  " + sideRow("s") + ",\n"
                + "  first_seen, decided_at\n"
                + "FROM judged\n"
                + "WHERE CARDINALITY(kinds) > 0";
    }

    /** The result of side {@code x} as a ROW, NULL when the side has none. */
    private static String sideRow(String x) {
        return String.format(
                Locale.ROOT,
                "CASE WHEN %1$s_n > 0 THEN ROW(%1$s_status, %1$s_http_status, %1$s_bytes, %1$s_sha256, %1$s_error,"
                        + " %1$s_elapsed_ms) END",
                x);
    }

    private String insertSummary() {
        String both = "p_n > 0 AND c_n > 0";
        StringBuilder sb = new StringBuilder("INSERT INTO summary_sink\nSELECT window_start, window_end,\n");
        sb.append("  COUNT(*) FILTER (WHERE ").append(both).append(") AS compared,\n");
        sb.append("  COUNT(*) FILTER (WHERE ").append(both).append(" AND CARDINALITY(kinds) = 0) AS matched,\n");
        sb.append("  COUNT(*) FILTER (WHERE ").append(both).append(" AND CARDINALITY(kinds) > 0) AS differing,\n");
        for (String k : DiffKinds.FIELDS) {
            sb.append("  COUNT(*) FILTER (WHERE ").append(both).append(" AND ARRAY_CONTAINS(kinds, '").append(k)
                    .append("')) AS diff_").append(k).append(",\n");
        }
        sb.append("  COUNT(*) FILTER (WHERE p_n > 0 AND c_n = 0) AS unmatched_primary,\n");
        sb.append("  COUNT(*) FILTER (WHERE p_n = 0 AND c_n > 0) AS unmatched_candidate,\n");
        sb.append("  COUNT(*) FILTER (WHERE ").append(both).append(" AND s_n > 0) AS with_secondary,\n");
        sb.append("  COUNT(*) FILTER (WHERE ").append(both).append(" AND CARDINALITY(noise) > 0) AS noisy,\n");
        sb.append("  LATENCY_HISTOGRAM(p_elapsed_ms) FILTER (WHERE ").append(both).append(") AS latency_primary,\n");
        sb.append("  LATENCY_HISTOGRAM(c_elapsed_ms) FILTER (WHERE ").append(both).append(") AS latency_candidate\n");
        sb.append("FROM TABLE(TUMBLE(TABLE judged, DESCRIPTOR(decided_at), ")
                .append(interval(config.get(DiffOptions.SUMMARY_WINDOW)))
                .append("))\n");
        // Requests seen only by the secondary are in no count.
        sb.append("WHERE p_n > 0 OR c_n > 0\n");
        sb.append("GROUP BY window_start, window_end");
        return sb.toString();
    }

    // ---- helpers ---------------------------------------------------------------------------------------

    /** {@code INTERVAL 'd hh:mm:ss.fff' DAY TO SECOND(3)}: any duration below 100 days, to the millisecond. */
    static String interval(Duration d) {
        if (d.isNegative() || d.toDays() > 99) {
            throw new IllegalArgumentException("interval out of range (0 to 99 days): " + d);
        }
        return String.format(
                Locale.ROOT,
                "INTERVAL '%d %02d:%02d:%02d.%03d' DAY TO SECOND(3)",
                d.toDays(),
                d.toHoursPart(),
                d.toMinutesPart(),
                d.toSecondsPart(),
                d.toMillisPart());
    }

    private static String opt(String key, String value) {
        return "  '" + key + "' = " + literal(value) + ",\n";
    }

    private static String last(String option) {
        return option.substring(0, option.length() - 2) + "\n";
    }

    /** A SQL string literal (quotes doubled). */
    static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }
}
