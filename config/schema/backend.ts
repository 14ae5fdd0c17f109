import { seedPorts } from "../../core/seed";
import { clientAddress, flag, hostAddress, listOf, port, section, sshHostKey } from "./fields";

const pointsAtFrontend = "from the frontend it would point at the frontend itself";

/** limen:backend: the host with the LIMEN API and the agent service. */
export const backendSchema = section(
    {
        /** IP address the stack connects to over SSH. */
        address: hostAddress({ role: "the backend address", loopback: pointsAtFrontend }),
        /** Pinned host key line. */
        hostKey: sshHostKey,
        /** The backend's address on the internal network (BACKEND_HOST, Envoy's cluster); default: address. */
        internalAddress: hostAddress({ role: "the backend internal address (BACKEND_HOST)", loopback: pointsAtFrontend }).optional(),
        /** LIMEN API internal port (BACKEND_PORT); default 18443. */
        apiPort: port.default(seedPorts.backendApi),
        /** Agent service address (AGENT_HOST); default: internalAddress. */
        agentAddress: hostAddress({ role: "the agent address (AGENT_HOST)", loopback: pointsAtFrontend }).optional(),
        /** Agent service internal port (AGENT_PORT); default 9000. */
        agentPort: port.default(seedPorts.agent),
        /** The backend API's public ports ("still to be confirmed" in the seed); default []. */
        publicApiPorts: listOf(port, "TCP ports (whole numbers from 1 to 65535)").default([]),
        /** Sources allowed to reach apiPort and agentPort; default: the frontend's internal addresses. */
        internalClients: listOf(clientAddress, "the frontend's addresses").optional(),
        /**
         * Skip the check, from the frontend, that the API answers /api/health and the agent port accepts
         * before .env.production or the ecosystem changes: only for a first deploy where the backend is
         * not up yet; default false.
         */
        skipPreflight: flag.default(false),
    },
    "address, hostKey, internalAddress, apiPort, agentAddress, agentPort, publicApiPorts, internalClients, skipPreflight",
);
