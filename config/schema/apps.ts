import { z } from "zod";
import { absolutePath, envValues, flag, listOf, loopbackBind, port, section, unixUser, wholeNumber, withRule } from "./fields";

const pm2Name = withRule(
    z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, { message: "must be a pm2 process name: lower-case letters, digits, _, . and -" }),
    "must be a pm2 process name",
);

/**
 * An argument before the bind flags. A host or port given here as well would race the appended
 * `-H 127.0.0.1 -p <port>`: which one a server obeys is its own choice, so neither is accepted.
 */
const appArgument = withRule(
    z.string().refine((arg) => !/^(-H|-p|--hostname|--port)(=|$)|^-[Hp]./.test(arg), {
        message: "must not set the host or port (-H, -p, --hostname, --port): the stack appends `-H <host> -p <port>` from limen:apps.<app>.host and .port",
    }),
    "must be one command-line argument (text)",
);

interface AppDefaults {
    /** The pm2 name's schema, with its default. */
    name: z.ZodDefault<z.ZodString>;
    cwd: string;
    port: number;
    /** The app in words, for the bind rule. */
    label: string;
}

const appSchema = (defaults: AppDefaults) =>
    section(
        {
            /** pm2 process name. */
            name: defaults.name,
            /** Application directory (Next.js reads .env.production from here). */
            cwd: absolutePath.default(defaults.cwd),
            /** Script pm2 runs, relative to cwd; default node_modules/next/dist/bin/next. */
            script: withRule(z.string().min(1), "must be the script pm2 runs, relative to cwd").default("node_modules/next/dist/bin/next"),
            /** Arguments before the bind flags (`-H <host> -p <port>` are appended); default [start]. */
            args: listOf(appArgument, "command-line arguments").default(["start"]),
            /** Bind address; 127.0.0.1 is the only one accepted. */
            host: loopbackBind(defaults.label).default("127.0.0.1"),
            port: port.default(defaults.port),
        },
        "name, cwd, script, args, host, port",
    );

/** limen:apps: the pm2 apps on the frontend and their .env.production. */
export const appsSchema = section(
    {
        /** Unix user that owns and runs the pm2 apps; default limen. */
        user: unixUser("must not be root: the apps face the network through Envoy").default("limen"),
        /** The app user's home directory, where pm2 keeps its state and logs (`<home>/.pm2`); default /home/<user>. */
        home: absolutePath.optional(),
        /** Where the pm2 ecosystem file is installed; default /etc/limen/pm2/ecosystem.config.js. */
        ecosystemPath: absolutePath.default("/etc/limen/pm2/ecosystem.config.js"),
        limenFrontend: appSchema({
            name: pm2Name
                .refine((name) => name === "limen-frontend", { message: 'must be named "limen-frontend": the runbook reads `pm2 logs limen-frontend`' })
                .default("limen-frontend"),
            cwd: "/srv/limen-frontend",
            port: 9444,
            label: "Next.js (limen-frontend)",
        }).prefault({}),
        darc: appSchema({ name: pm2Name.default("darc-kr"), cwd: "/srv/darc-kr", port: 9445, label: "the darc.kr site" }).prefault({}),
        /** Processes per app in pm2's cluster mode (a reload replaces them one by one); default 2. */
        instances: wholeNumber(1, 16, "processes").default(2),
        /** pm2 restart policy shared by both apps. */
        restart: section(
            {
                maxRestarts: wholeNumber(0, undefined, "restarts").default(10),
                restartDelayMs: wholeNumber(0, undefined, "milliseconds").default(2000),
                killTimeoutMs: wholeNumber(100, undefined, "milliseconds").default(5000),
            },
            "maxRestarts, restartDelayMs, killTimeoutMs",
        ).prefault({}),
        /** Further plain .env.production keys (never the seed's four, never a backend URL); default {}. */
        extraEnv: envValues.default({}),
        /**
         * The health gate after a reload: the session check through the middleware and the darc.kr page
         * must answer within timeoutSeconds, or the previous ecosystem and .env.production come back
         * (docs/safety.md, "The apps' release and its health gate"). enabled: false only for a first
         * deploy before the backend is up, with backend.skipPreflight.
         */
        healthGate: section(
            {
                enabled: flag.default(true),
                timeoutSeconds: wholeNumber(5, 600, "seconds").default(30),
            },
            "enabled, timeoutSeconds",
        ).prefault({}),
        /**
         * pm2's logs (`<home>/.pm2/logs/*.log` and the daemon's `pm2.log`), rotated by Debian's logrotate
         * as the app user every 15 minutes: a file is rotated when it is larger than maxSizeMb, and daily;
         * `keep` rotated files are kept, none older than maxAgeDays (docs/operations.md, "Logs").
         */
        logs: section(
            {
                maxSizeMb: wholeNumber(1, 10240, "megabytes").default(50),
                keep: wholeNumber(1, 100, "rotated files").default(7),
                maxAgeDays: wholeNumber(1, 3650, "days").default(14),
            },
            "maxSizeMb, keep, maxAgeDays",
        ).prefault({}),
    },
    "user, home, ecosystemPath, limenFrontend, darc, instances, restart, extraEnv, healthGate, logs",
);
