import type { ModelKind } from '../model/model-registry.ts';

/**
 * A coordinator may federate several models at once (e.g. the embedding and the
 * sequence model). Each has its own rounds, versions and weights, addressed by kind:
 * a socket.io namespace for its rounds and a REST prefix for its weights and log.
 * Socket.io multiplexes the namespaces of one origin over a single connection.
 */
export const modelNamespace = (kind: ModelKind): string => `/models/${kind}`;

/** REST path of one model's info; weights and rounds live below it. */
export const modelApiPath = (kind: ModelKind): string => `/api/models/${kind}`;

export const weightsApiPath = (kind: ModelKind, version: number | 'latest'): string => `${modelApiPath(kind)}/weights/${version}`;
