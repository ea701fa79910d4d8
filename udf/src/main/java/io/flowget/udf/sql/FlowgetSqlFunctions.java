package io.flowget.udf.sql;

import org.apache.flink.table.functions.UserDefinedFunction;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The SQL functions of flowget by the name the diff job's SQL calls them:
 *
 * <pre>{@code
 * FlowgetSqlFunctions.ALL.forEach(tableEnv::createTemporarySystemFunction);
 * }</pre>
 */
public final class FlowgetSqlFunctions {
    private FlowgetSqlFunctions() {}

    public static final Map<String, Class<? extends UserDefinedFunction>> ALL;

    static {
        Map<String, Class<? extends UserDefinedFunction>> m = new LinkedHashMap<>();
        m.put("ERROR_CLASS", ErrorClassFunction.class);
        m.put("LATENCY_REGRESSION", LatencyRegressionFunction.class);
        m.put("DIFF_KINDS", DiffKindsFunction.class);
        m.put("WITHOUT_NOISE", WithoutNoiseFunction.class);
        m.put("LATENCY_HISTOGRAM", LatencyHistogramFunction.class);
        ALL = java.util.Collections.unmodifiableMap(m);
    }
}
