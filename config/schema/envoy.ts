import { z } from "zod";
import { absolutePath, flag, listOf, port, section, wholeNumber, withRule } from "./fields";

const removedAdminPort =
    "was removed in 2.0.0: Envoy's admin answers on a unix socket in a root-only directory (/var/lib/limen/envoy/admin/limen-envoy/admin.sock), no port; delete the key";

/** limen:envoy: the edge proxy on the frontend. */
export const envoySchema = section(
    {
        /** Run Envoy on the frontend; default true. */
        enabled: flag.default(true),
        /**
         * Envoy image pinned by digest: Docker's reference grammar, [registry[:port]/]path[:tag]@sha256:…
         * (a registry with a port, such as the lab's, is a host name with a dot or a port before the first "/").
         */
        image: withRule(
            z.string().regex(/^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::[0-9]{1,5})?\/)?[a-z0-9._-]+(?:\/[a-z0-9._-]+)*(?::[A-Za-z0-9._-]+)?@sha256:[a-f0-9]{64}$/, {
                message: "must pin the image by digest (repository[:tag]@sha256:<64 hex>) so every host runs the same bytes",
            }),
            "must pin the image by digest (repository[:tag]@sha256:<64 hex>) so every host runs the same bytes",
        ),
        /** Plain HTTP port, redirected to HTTPS; default 80. */
        httpPort: port.default(80),
        /** HTTPS port; default 443. */
        httpsPort: port.default(443),
        /** Removed in 2.0.0: the admin is a unix socket (plan/envoy.ts); a stack that still sets it is told so. */
        adminPort: withRule(z.never({ message: removedAdminPort }).optional(), removedAdminPort),
        /** Where the rendered bootstrap lives on the frontend; default /etc/limen/envoy/envoy.yaml. */
        configPath: absolutePath.default("/etc/limen/envoy/envoy.yaml"),
        /** Path prefixes Envoy sends straight to the backend's internal port instead of Next.js; default []. */
        backendRoutePrefixes: listOf(
            withRule(
                z.string().regex(/^\/[A-Za-z0-9._~\/-]+$/, {
                    message: 'must be a path prefix such as "/api/agent" (the root "/" would send every request past Next.js)',
                }),
                'must be a path prefix such as "/api/agent"',
            ),
            'path prefixes such as ["/api/agent"]',
        ).default([]),
        /**
         * The container's log (Envoy's access log, one JSON line per request, and its own messages), kept by
         * Docker's json-file driver: a file is rotated at maxSizeMb, and maxFiles files are kept (Docker's
         * `max-size`, `max-file`); defaults 50 and 5.
         */
        logs: section(
            {
                maxSizeMb: wholeNumber(1, 10240, "megabytes").default(50),
                maxFiles: wholeNumber(1, 100, "files").default(5),
            },
            "maxSizeMb, maxFiles",
        ).prefault({}),
    },
    "enabled, image, httpPort, httpsPort, configPath, backendRoutePrefixes, logs",
);
