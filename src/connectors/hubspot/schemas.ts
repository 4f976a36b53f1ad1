import { z } from "zod";

/**
 * The custom property (single-line text) where `createDeal` and `addNote` keep their reference; create
 * it for deals and for notes in the HubSpot portal (Settings → Properties) before using those operations.
 */
export const referenceProperty = "tenon_reference";

// ------------------------------------------------------------------ inputs

export const upsertContactInput = z.object({
  email: z.email(),
  firstname: z.string().optional(),
  lastname: z.string().optional(),
  phone: z.string().optional(),
  /** More contact properties by internal name (custom ones must exist in the portal). */
  properties: z.record(z.string(), z.string()).optional(),
});

export const findContactByEmailInput = z.object({ email: z.string().min(1) });

export const createDealInput = z.object({
  dealname: z.string().min(1),
  amount: z.number().nonnegative(),
  /** A stage of the pipeline; default "appointmentscheduled" (HubSpot's default pipeline). */
  dealstage: z.string().min(1).optional(),
  /** Default "default". */
  pipeline: z.string().min(1).optional(),
  /** Associates the deal with this contact. */
  contactId: z.string().min(1).optional(),
  /** What makes this deal unique (an order number); default: the step's idempotency key. */
  reference: z.string().min(1).optional(),
});

export const addNoteInput = z.object({
  contactId: z.string().min(1),
  /** The note's text (HTML allowed, as in HubSpot's editor). */
  body: z.string().min(1),
  /** When the activity happened, ISO 8601 or epoch ms; default now. */
  timestamp: z.union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()]).optional(),
  /** What makes this note unique (an appointment id); default: the step's idempotency key. */
  reference: z.string().min(1).optional(),
});

export type UpsertContactInput = z.input<typeof upsertContactInput>;
export type CreateDealInput = z.input<typeof createDealInput>;
export type AddNoteInput = z.input<typeof addNoteInput>;

// ------------------------------------------------------------------ outputs

export const contactOutput = z.object({
  id: z.string(),
  email: z.string(),
  /** Property values by internal name; null when unset. */
  properties: z.record(z.string(), z.string().nullable()),
});

export const createdOutput = z.object({
  id: z.string(),
  /** False when an earlier attempt with the same reference had already created it: nothing was created now. */
  created: z.boolean(),
});

export type HubSpotContact = z.output<typeof contactOutput>;
export type Created = z.output<typeof createdOutput>;

// ------------------------------------------------------------------ the API's answers

/** A CRM object as HubSpot returns it (https://developers.hubspot.com/docs/api-reference/crm-contacts-v3). */
export const crmObject = z.looseObject({
  id: z.string(),
  properties: z.record(z.string(), z.string().nullable()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const batchUpsertAnswer = z.looseObject({
  status: z.string(),
  results: z.array(crmObject).min(1),
});

export const searchAnswer = z.looseObject({
  total: z.number(),
  results: z.array(crmObject),
});
