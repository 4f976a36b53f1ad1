import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { quickbooks } from "../../src/connectors/quickbooks/index.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import {
  type AccountingOptions,
  type AccountingSystem,
  createAccounting,
} from "../../src/sandbox/systems/accounting.ts";
import { AuthError, NonRetryableError } from "../../src/sdk/errors.ts";
import { connectToSandbox, type SandboxConnections } from "../support/sandbox.ts";

/** The sandbox's fault dice, rolled in order (then "no fault"): decides which request an injected 5xx hits. */
const rolls: number[] = [];

interface Setup {
  sandbox: Sandbox;
  connections: SandboxConnections;
  accounting: AccountingSystem;
  client: ReturnType<typeof quickbooks.client>;
}

async function setUp(options: AccountingOptions = {}): Promise<Setup> {
  const sandbox = createSandbox({
    systems: { accounting: (context) => createAccounting(context, options) },
    random: () => rolls.shift() ?? 0.99,
  });
  await sandbox.listen();
  const base = sandbox.baseUrl("accounting");
  const accounting = sandbox.system<AccountingSystem>("accounting");
  const config = quickbooks.connection({
    baseUrl: base,
    realmId: accounting.realmId,
    tokenUrl: `${base}/oauth2/v1/tokens/bearer`,
    authorizationUrl: `${base}/connect/oauth2`,
    credentials: sandbox.credentials("accounting"),
  });
  // QBO's 500 requests a minute, spread evenly, would make this file slow; the sandbox does not enforce it.
  const connections = await connectToSandbox({ accounting: { ...config, rateLimit: "50/s" } });
  return { sandbox, connections, accounting, client: quickbooks.client(connections.client("accounting")) };
}

let setup: Setup;
let initialRefreshToken: string;
beforeAll(async () => {
  setup = await setUp();
  initialRefreshToken = setup.sandbox.credentials("accounting").refreshToken ?? "";
});
beforeEach(() => {
  rolls.length = 0;
  setup.sandbox.setFaults("accounting", { errorRate: null, errorTiming: null, schemaChange: null });
});
afterAll(async () => {
  await setup.connections.close();
  await setup.sandbox.close();
});

const requestsSince = (count: number) => setup.sandbox.requests("accounting").slice(count);
const company = () => `/v3/company/${setup.accounting.realmId}`;
const books = () => setup.accounting.state();

let customerCount = 0;
async function newCustomer(): Promise<string> {
  customerCount += 1;
  return (await setup.client.findOrCreateCustomer({ displayName: `Customer ${customerCount}` })).id;
}

describe("quickbooks connector", () => {
  it("connects like QBO: company path, Intuit's OAuth endpoints with Basic client auth, JSON, no idempotency header", () => {
    expect(quickbooks.connection({ realmId: "9130357766900456" })).toEqual({
      baseUrl: "https://quickbooks.api.intuit.com/v3/company/9130357766900456",
      auth: {
        type: "oauth2",
        grant: "authorization_code",
        tokenUrl: "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        authorizationUrl: "https://appcenter.intuit.com/connect/oauth2",
        clientAuth: "basic",
        scopes: ["com.intuit.quickbooks.accounting"],
      },
      headers: { Accept: "application/json" },
      rateLimit: "500 per 60s",
      idempotencyHeader: false,
    });
  });

  it("refreshes its token with HTTP Basic client auth, then looks the customer up before creating it", async () => {
    const { clientId, clientSecret } = setup.sandbox.credentials("accounting");
    const created = await setup.client.findOrCreateCustomer({ displayName: "Ada Lovelace", email: "ada@example.com" });
    expect(created).toEqual({ id: expect.any(String), displayName: "Ada Lovelace", created: true });

    const [token, query, create] = requestsSince(0);
    expect(token).toMatchObject({
      method: "POST",
      path: "/oauth2/v1/tokens/bearer",
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded;charset=UTF-8",
      },
    });
    expect(Object.fromEntries(new URLSearchParams(token?.body))).toEqual({
      grant_type: "refresh_token",
      refresh_token: initialRefreshToken,
    });
    expect(query).toMatchObject({
      method: "GET",
      path: `${company()}/query`,
      query: { query: "select * from Customer where DisplayName = 'Ada Lovelace'", minorversion: "75" },
      headers: { authorization: expect.stringMatching(/^Bearer eyJ/), accept: "application/json" },
    });
    expect(create).toMatchObject({
      method: "POST",
      path: `${company()}/customer`,
      query: { minorversion: "75" },
      headers: { accept: "application/json", "content-type": "application/json" },
    });
    // QBO honours no idempotency header (not even `requestid`): none is sent.
    expect(create?.headers["idempotency-key"]).toBeUndefined();
    expect(create?.query.requestid).toBeUndefined();
    expect(JSON.parse(create?.body ?? "")).toEqual({
      DisplayName: "Ada Lovelace",
      PrimaryEmailAddr: { Address: "ada@example.com" },
    });

    const again = await setup.client.findOrCreateCustomer({ displayName: "Ada Lovelace" });
    expect(again).toEqual({ id: created.id, displayName: "Ada Lovelace", created: false });
  });

  it("escapes quotes in the DisplayName it queries", async () => {
    const first = await setup.client.findOrCreateCustomer({ displayName: "O'Brien & Sons" });
    expect(await setup.client.findOrCreateCustomer({ displayName: "O'Brien & Sons" })).toEqual({
      ...first,
      created: false,
    });
  });

  it("finds the customer whose DisplayName differs only in case, which QBO counts as the same name", async () => {
    const first = await setup.client.findOrCreateCustomer({ displayName: "Grace Hopper" });
    const again = await setup.client.findOrCreateCustomer({ displayName: "GRACE hopper" });
    expect(again).toEqual({ id: first.id, displayName: "Grace Hopper", created: false });
  });

  it("creates an invoice once per DocNumber: the second call finds it (check-then-act)", async () => {
    const customerId = await newCustomer();
    const before = setup.sandbox.requests("accounting").length;
    const input = {
      docNumber: "SO-1001",
      customerId,
      lines: [
        { description: "Widget", amount: 25, quantity: 2 },
        { description: "Shipping", amount: 9.99 },
      ],
      billEmail: "ada@example.com",
    };
    const first = await setup.client.createInvoice(input);
    const second = await setup.client.createInvoice(input);
    expect(first).toEqual({
      id: expect.any(String),
      docNumber: "SO-1001",
      totalAmt: 59.99,
      balance: 59.99,
      created: true,
    });
    expect(second).toEqual({ ...first, created: false });

    const [query, create] = requestsSince(before);
    expect(query?.query).toEqual({
      query: "select * from Invoice where DocNumber = 'SO-1001' orderby Id startposition 1 maxresults 1000",
      minorversion: "75",
    });
    expect(create).toMatchObject({ method: "POST", path: `${company()}/invoice`, query: { minorversion: "75" } });
    expect(JSON.parse(create?.body ?? "")).toEqual({
      CustomerRef: { value: customerId },
      DocNumber: "SO-1001",
      Line: [
        {
          DetailType: "SalesItemLineDetail",
          Amount: 50,
          Description: "Widget",
          SalesItemLineDetail: { ItemRef: { value: "1" }, Qty: 2, UnitPrice: 25 },
        },
        {
          DetailType: "SalesItemLineDetail",
          Amount: 9.99,
          Description: "Shipping",
          SalesItemLineDetail: { ItemRef: { value: "1" }, Qty: 1, UnitPrice: 9.99 },
        },
      ],
      BillEmail: { Address: "ada@example.com" },
    });
    expect(books().invoices.filter((invoice) => invoice.docNumber === "SO-1001")).toHaveLength(1);
  });

  it("an invoice whose create answer was lost (5xx after processing) is found by the retry, not made twice", async () => {
    const customerId = await newCustomer();
    setup.sandbox.setFaults("accounting", { errorRate: 0.5, errorTiming: "after" });
    // The query rolls "no fault"; the create rolls a fault (then its status): processed, answer replaced by a 500.
    rolls.push(0.99, 0, 0);
    const input = { docNumber: "SO-1002", customerId, lines: [{ description: "Gadget", amount: 10 }] };
    await expect(
      setup.connections.inStep(() => setup.client.createInvoice(input), { key: "run-2:invoice" }),
    ).rejects.toThrow(/answered 500/);
    const retried = await setup.connections.inStep(() => setup.client.createInvoice(input), { key: "run-2:invoice" });
    expect(retried).toMatchObject({ docNumber: "SO-1002", created: false });
    expect(books().invoices.filter((invoice) => invoice.docNumber === "SO-1002")).toHaveLength(1);
    expect(books().counts.duplicateDocNumbers).toBe(0);
  });

  it("refuses to reuse an invoice number that belongs to another customer", async () => {
    const [owner, other] = [await newCustomer(), await newCustomer()];
    await setup.client.createInvoice({
      docNumber: "SO-1003",
      customerId: owner,
      lines: [{ description: "A", amount: 1 }],
    });
    const reused = setup.client.createInvoice({
      docNumber: "SO-1003",
      customerId: other,
      lines: [{ description: "A", amount: 1 }],
    });
    await expect(reused).rejects.toThrow(NonRetryableError);
    await expect(reused).rejects.toThrow(/already exists for customer/);
  });

  it("finds an invoice by DocNumber, or null", async () => {
    const customerId = await newCustomer();
    const created = await setup.client.createInvoice({
      docNumber: "SO-1004",
      customerId,
      lines: [{ description: "B", amount: 12.5 }],
    });
    expect(await setup.client.findInvoiceByDocNumber({ docNumber: "SO-1004" })).toEqual({
      id: created.id,
      docNumber: "SO-1004",
      customerId,
      totalAmt: 12.5,
      balance: 12.5,
      currency: "USD",
    });
    expect(await setup.client.findInvoiceByDocNumber({ docNumber: "SO-404" })).toBeNull();
  });

  it("records a payment once per reference, and the invoice is paid", async () => {
    const customerId = await newCustomer();
    const invoice = await setup.client.createInvoice({
      docNumber: "SO-1005",
      customerId,
      lines: [{ description: "C", amount: 30 }],
    });
    const before = setup.sandbox.requests("accounting").length;
    // A Stripe payment intent id is longer than PaymentRefNum's 21 characters: it is stored as a digest.
    const input = { invoiceId: invoice.id, customerId, amount: 30, reference: "pi_3PqRsTuVwXyZ0123456789ab" };
    const first = await setup.client.recordPayment(input);
    const second = await setup.client.recordPayment(input);
    expect(second).toEqual({ id: first.id, created: false });

    const [query, create] = requestsSince(before);
    expect(query?.query.query).toBe(
      `select * from Payment where CustomerRef = '${customerId}' orderby Id startposition 1 maxresults 1000`,
    );
    const sent = JSON.parse(create?.body ?? "") as Record<string, unknown>;
    expect(sent).toEqual({
      CustomerRef: { value: customerId },
      TotalAmt: 30,
      PaymentRefNum: expect.stringMatching(/^.{21}$/),
      PrivateNote: "Reference: pi_3PqRsTuVwXyZ0123456789ab",
      Line: [{ Amount: 30, LinkedTxn: [{ TxnId: invoice.id, TxnType: "Invoice" }] }],
    });
    expect(books().invoices.find((i) => i.id === invoice.id)).toMatchObject({ balance: 0, paid: true });
    expect(books().payments.filter((p) => p.paymentRefNum === sent.PaymentRefNum)).toHaveLength(1);
  });

  it("an answer of another shape fails with ResponseShapeError naming the field", async () => {
    const customerId = await newCustomer();
    setup.sandbox.setFaults("accounting", { schemaChange: { field: "TotalAmt", action: "retype" } });
    const retyped = setup.client.createInvoice({
      docNumber: "SO-1006",
      customerId,
      lines: [{ description: "D", amount: 5 }],
    });
    await expect(retyped).rejects.toThrow(ResponseShapeError);
    await expect(retyped).rejects.toThrow(/Invoice\.TotalAmt/);

    // Rows under another name are a shape change, not "no invoice yet": no duplicate is created.
    setup.sandbox.setFaults("accounting", { schemaChange: { field: "Invoice", action: "rename", to: "Invoices" } });
    await expect(
      setup.client.createInvoice({ docNumber: "SO-1006", customerId, lines: [{ description: "D", amount: 5 }] }),
    ).rejects.toThrow(ResponseShapeError);
    expect(books().invoices.filter((invoice) => invoice.docNumber === "SO-1006")).toHaveLength(1);
  });

  it("revoked tokens make the connection auth_failed; a new authorisation stored with setCredentials restores it", async () => {
    setup.sandbox.setFaults("accounting", { revokeCredentials: true });
    await expect(setup.client.findInvoiceByDocNumber({ docNumber: "SO-1001" })).rejects.toThrow(AuthError);
    expect(await setup.connections.connections.describe("accounting")).toMatchObject({ status: "auth_failed" });

    await setup.connections.connections.setCredentials("accounting", setup.accounting.authorize());
    expect(await setup.client.findInvoiceByDocNumber({ docNumber: "SO-1001" })).toMatchObject({ docNumber: "SO-1001" });
  });
});

describe("quickbooks connector with short-lived access tokens", () => {
  it("refreshes ahead of expiry and stores each rotated refresh token, so the first one is retired", async () => {
    const short = await setUp({ accessTokenTtlSeconds: 30 });
    try {
      const first = short.sandbox.credentials("accounting").refreshToken ?? "";
      // 30 s is inside the connection's 60 s refresh skew: every call refreshes (and rotates) first.
      for (let call = 0; call < 3; call++) {
        expect(await short.client.findInvoiceByDocNumber({ docNumber: "none" })).toBeNull();
      }
      expect(short.accounting.state()).toMatchObject({ oauth: { refreshes: 3, rotations: 3 } });
      const paths = short.sandbox.requests("accounting").map((request) => request.path.split("/").pop());
      expect(paths).toEqual(["bearer", "query", "bearer", "query", "bearer", "query"]);

      const { clientId = "", clientSecret = "" } = short.sandbox.credentials("accounting");
      const reuse = await fetch(`${short.sandbox.baseUrl("accounting")}/oauth2/v1/tokens/bearer`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
        },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: first }),
      });
      expect(reuse.status).toBe(400);
      expect(await reuse.json()).toMatchObject({ error: "invalid_grant" });
    } finally {
      await short.connections.close();
      await short.sandbox.close();
    }
  });
});
