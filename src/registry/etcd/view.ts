/**
 * The etcd registry's local view: the replicas of each service under the
 * prefix, kept up to date from the key/values a range or watch events
 * bring, and handed out in round-robin order.
 *
 * @module
 */

import type { Replica } from "../types.ts";
import { readReplica, splitReplicaKey } from "./keys.ts";
import { unb64 } from "./gateway.ts";

const NO_REPLICAS: readonly Replica[] = [];

interface ServiceView {
  /** Replicas by key, in the order they appeared. */
  byKey: Map<string, Replica>;
  /** `byKey`'s values, rebuilt on change. */
  list: Replica[];
  /** Round-robin position. */
  next: number;
  /**
   * The list rotated to start at each position, built on first use and
   * dropped on change: a resolve per request allocates nothing, and hands
   * out the same arrays again (what the service state reads once).
   */
  rotations: (readonly Replica[] | undefined)[];
}

/**
 * A key/value as the gateway gives it in a range answer or a watch event
 * (key and value in base64).
 *
 * @example
 * ```ts
 * import type { KeyValue } from "./view.ts";
 * import { b64 } from "./gateway.ts";
 * const kv: KeyValue = { key: b64("/gatehouse/api/10.0.0.7:8081"), value: "", mod_revision: "7" };
 * ```
 */
export interface KeyValue {
  key?: string;
  value?: string;
  mod_revision?: string;
  /** The revision the key was created at (a declared route's order). */
  create_revision?: string;
}

/**
 * The replicas of each service under one prefix, by key, in the order their
 * keys appeared.
 *
 * @example
 * ```ts
 * import { ReplicaView } from "./view.ts";
 * import { b64 } from "./gateway.ts";
 * const view = new ReplicaView("/gatehouse");
 * view.put({ key: b64("/gatehouse/api/10.0.0.7:8081"), value: "" });
 * view.resolve("api"); // [{ host: "10.0.0.7", port: 8081 }]
 * ```
 */
export class ReplicaView {
  readonly #prefix: string;
  readonly #services = new Map<string, ServiceView>();

  /** An empty view of the keys under `prefix` (normalised, see keys.ts). */
  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /**
   * The replicas of `service` in the order to try them. Each call starts one
   * further along the list. Empty when none is registered. The array is
   * shared (handed out again at the same turn until the list changes):
   * read-only.
   */
  resolve(service: string): readonly Replica[] {
    const view = this.#services.get(service);
    if (view === undefined) return NO_REPLICAS;
    const list = view.list;
    const n = list.length;
    const start = view.next % n;
    view.next = start + 1;
    let out = view.rotations[start];
    if (out === undefined) {
      const rotated = new Array<Replica>(n);
      for (let i = 0; i < n; i++) rotated[i] = list[(start + i) % n];
      view.rotations[start] = out = rotated;
    }
    return out;
  }

  /** Names of the services with at least one replica. */
  services(): string[] {
    return [...this.#services.keys()];
  }

  /** Every service and its replicas, without a lookup's round robin. */
  known(): [string, readonly Replica[]][] {
    return [...this.#services].map(([name, view]) => [name, view.list]);
  }

  /** Forget every replica (before a full read replaces the view). */
  clear(): void {
    this.#services.clear();
  }

  /**
   * Apply a PUT: the key's replica, or, when its value names none, the
   * key's removal. Keys outside the prefix are ignored.
   */
  put(kv: KeyValue): void {
    const key = unb64(kv.key);
    const parsed = splitReplicaKey(this.#prefix, key);
    if (parsed === undefined) return;
    const replica = readReplica(unb64(kv.value), parsed.address);
    if (replica === undefined) {
      // Not a replica we can use; make sure an older good value is dropped.
      this.delete(kv);
      return;
    }
    let view = this.#services.get(parsed.service);
    if (view === undefined) {
      view = { byKey: new Map(), list: [], next: 0, rotations: [] };
      this.#services.set(parsed.service, view);
    }
    view.byKey.set(key, replica);
    view.list = [...view.byKey.values()];
    view.rotations = [];
  }

  /** Apply a DELETE of the key. Keys outside the prefix are ignored. */
  delete(kv: KeyValue): void {
    const key = unb64(kv.key);
    const parsed = splitReplicaKey(this.#prefix, key);
    if (parsed === undefined) return;
    const view = this.#services.get(parsed.service);
    if (view === undefined || !view.byKey.delete(key)) return;
    if (view.byKey.size === 0) this.#services.delete(parsed.service);
    else {
      view.list = [...view.byKey.values()];
      view.rotations = [];
    }
  }
}
