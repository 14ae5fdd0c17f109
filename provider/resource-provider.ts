/**
 * The shape of one resource kind's provider in this project's plugin: the CRUD of Pulumi's dynamic
 * providers (which these resources used before), keyed by resource type in provider/server.ts instead
 * of by provider code serialised into every resource's state.
 */
export interface DiffResult {
    changes: boolean;
    /** Properties whose change means a new resource (created before the old one is deleted). */
    replaces?: string[];
}

export interface ResourceProvider<Inputs> {
    diff(id: string, olds: Inputs, news: Inputs): Promise<DiffResult>;
    create(inputs: Inputs): Promise<{ id: string; outs: Inputs }>;
    update(id: string, olds: Inputs, news: Inputs): Promise<{ outs: Inputs }>;
    /** Reports what is on the host; the observed facts are returned as the inputs too (see host-providers.ts). */
    read(id: string, props: Inputs): Promise<{ id: string; props: Inputs; inputs: Inputs }>;
    delete(id: string, props: Inputs): Promise<void>;
}
