import { section, wholeNumber } from "./fields";

/** limen:verify: what `npm run verify` holds the hosts to beyond the plan. */
export const verifySchema = section(
    {
        /**
         * The least free space, in percent, on each host's root filesystem and on the one holding pm2's
         * logs; below it verify fails, naming the path (docs/operations.md, "Logs"). Default 10.
         */
        minFreeDiskPercent: wholeNumber(1, 90, "percent").default(10),
    },
    "minFreeDiskPercent",
);
