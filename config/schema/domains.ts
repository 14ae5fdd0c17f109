import { domainName, listOf, section } from "./fields";

/** limen:domains: which host names Envoy sends to which app. */
export const domainsSchema = section(
    {
        /** Host names served by the LIMEN Next.js app. */
        limen: listOf(domainName, "lower-case DNS names").min(1, { message: "must list at least one host name for the LIMEN app" }),
        /** Host names served by the darc.kr site; default [darc.kr, www.darc.kr]. */
        darc: listOf(domainName, "lower-case DNS names")
            .min(1, { message: "must list at least one host name for the darc.kr site (or be left out for darc.kr and www.darc.kr)" })
            .default(["darc.kr", "www.darc.kr"]),
    },
    "limen, darc",
);
