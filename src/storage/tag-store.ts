/**
 * The part of the storage contract that search by business entity needs: tags that say which runs (and
 * so which events and outbound exchanges) concern an entity, `order:1001` or `email:ada@example.com`.
 * Tags declared by an integration's `entities` are written with the run, in the transaction that
 * accepts its event (see `NewRun.tags`); tags a run adds while it executes (`step.tag`) come through
 * `addTags`. A run holds a tag at most once: the key is (run, kind, value), so a step that executes
 * again after a crash or a retry adds nothing. Both backends implement it (`sqlite/sqlite-tags.ts`,
 * `postgres/postgres-tags.ts`).
 *
 * Values arrive normalised by the engine (`observability/entity-tags.ts`): compared exactly here.
 */

export interface EntityTag {
  kind: string;
  value: string;
}

export interface NewTag extends EntityTag {
  eventId: string;
  runId: string;
  createdAt: number;
}

/** Where a page of a search ends: the next page starts after this tag (newest first). */
export interface TagCursor {
  createdAt: number;
  runId: string;
}

/** A run that holds every tag searched for, with when it got the first one. */
export interface TaggedRun {
  runId: string;
  eventId: string;
  createdAt: number;
}

export interface TagPage {
  /** Default 50. */
  limit?: number;
  /** The last run of the previous page; omitted for the first page. */
  after?: TagCursor;
}

/** How many terms one search may combine: each is one more index probe per candidate run. */
export const maxSearchTerms = 5;

export interface TagStore {
  /** Stores tags added by running runs; a tag the run already holds is left as it is. */
  addTags(tags: NewTag[]): Promise<void>;
  /**
   * The runs tagged with every one of `terms` (1 to `maxSearchTerms`), newest first by when they got the
   * first term's tag, a page at a time (keyset: a run tagged meanwhile never shifts a page).
   */
  findRuns(terms: EntityTag[], page?: TagPage): Promise<TaggedRun[]>;
  /** The ids of the runs tagged `kind:value`, newest first: `/api/runs?entity=kind:value`. */
  runIdsForEntity(kind: string, value: string, page?: TagPage): Promise<string[]>;
  /** Every tag of these runs (for showing them beside each run), in no particular order. */
  tagsOfRuns(runIds: string[]): Promise<(EntityTag & { runId: string })[]>;
}
