package org.archivesearch.node;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One OpenSearch node in this JVM, with the modules and plugins the archive's index needs loaded
 * from the classpath (as OpenSearch's own test framework does with {@code MockNode}).
 *
 * <p>Arguments are OpenSearch settings as {@code key=value} ({@code path.home=...}, {@code http.port=...},
 * {@code discovery.seed_hosts=a,b}, ...); {@code path.home} is required. The node runs until the
 * process gets SIGTERM or SIGINT, when it is closed cleanly; SIGKILL is what the failure tests use.
 */
public final class ArchiveNode extends Node {

    /**
     * The k-NN plugin is published as a plugin zip, not a jar to compile against: its jars are
     * unpacked onto the runtime classpath and the plugin class is loaded by name.
     */
    static final String KNN_PLUGIN = "org.opensearch.knn.plugin.KNNPlugin";

    /** Modules and plugins on the classpath, in the order OpenSearch would load them. */
    static List<Class<? extends Plugin>> plugins() throws ClassNotFoundException {
        return List.of(
            Netty4Plugin.class,
            CommonAnalysisPlugin.class,
            MapperExtrasPlugin.class,
            PainlessPlugin.class,
            ReindexPlugin.class,
            Class.forName(KNN_PLUGIN).asSubclass(Plugin.class)
        );
    }

    private ArchiveNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    static Settings parse(String[] args) {
        Settings.Builder builder = Settings.builder()
            .put("network.host", "127.0.0.1")
            // a development node on a shared disk: never turn indices read-only for disk watermarks
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.destructive_requires_name", false);
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected key=value, got: " + arg);
            }
            String key = arg.substring(0, eq);
            String value = arg.substring(eq + 1);
            if (key.equals("discovery.seed_hosts") || key.equals("cluster.initial_cluster_manager_nodes")) {
                builder.putList(key, value.split(","));
            } else {
                builder.put(key, value);
            }
        }
        Settings settings = builder.build();
        if (!settings.hasValue("path.home")) {
            throw new IllegalArgumentException("path.home=DIR is required");
        }
        return settings;
    }

    public static void main(String[] args) throws Exception {
        Settings settings = parse(args);
        LogConfigurator.registerErrorListener();
        LogConfigurator.configureWithoutConfig(settings);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), null, () -> settings.get("node.name", "node"));
        ArchiveNode node = new ArchiveNode(environment, plugins());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "archive-node-shutdown"));
        node.start();
        System.out.println("archive-node started: " + settings.get("node.name", "node"));
        stopped.await();
    }
}
