import { afterEach, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { type AccountingSystem, createAccounting } from "../../src/sandbox/systems/accounting.ts";

let sandbox: Sandbox | undefined;

afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

async function tokenRequest(form: Record<string, string>, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${sandbox?.baseUrl("accounting")}/oauth2/v1/tokens/bearer`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", ...headers },
    body: new URLSearchParams(form),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** A QBO-like company and an API caller holding an access token obtained as Intuit documents. */
async function startAccounting() {
  sandbox = createSandbox({
    systems: { accounting: (context) => createAccounting(context, { realmId: "9130357766900456" }) },
  });
  await sandbox.listen();
  const accounting = sandbox.system<AccountingSystem>("accounting");
  const { clientId = "", clientSecret = "", refreshToken = "" } = accounting.credentials();
  const tokens = await tokenRequest(
    { grant_type: "refresh_token", refresh_token: refreshToken },
    { authorization: basic(clientId, clientSecret) },
  );
  const company = `${sandbox.baseUrl("accounting")}/v3/company/${accounting.realmId}`;
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    accessToken = tokens.body.access_token,
  ): Promise<Answer> => {
    const url = new URL(`${company}${path}`);
    url.searchParams.set("minorversion", "75");
    const response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${String(accessToken)}`,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>,
    };
  };
  const query = (text: string) => call("GET", `/query?query=${encodeURIComponent(text)}`);
  return { accounting, tokens, call, query, company };
}

async function customerAndInvoice(call: Awaited<ReturnType<typeof startAccounting>>["call"]) {
  const customer = await call("POST", "/customer", {
    DisplayName: "Ada Lovelace",
    PrimaryEmailAddr: { Address: "ada@example.com" },
  });
  const customerId = (customer.body.Customer as { Id: string }).Id;
  const invoice = await call("POST", "/invoice", {
    CustomerRef: { value: customerId },
    DocNumber: "1001",
    Line: [
      {
        Amount: 50,
        DetailType: "SalesItemLineDetail",
        Description: "Widget",
        SalesItemLineDetail: { ItemRef: { value: "1", name: "Services" }, Qty: 2, UnitPrice: 25 },
      },
      {
        Amount: 9.99,
        DetailType: "SalesItemLineDetail",
        Description: "Shipping",
        SalesItemLineDetail: { ItemRef: { value: "1" }, Qty: 1, UnitPrice: 9.99 },
      },
    ],
    BillEmail: { Address: "ada@example.com" },
  });
  return { customerId, invoice };
}

const faultOf = (answer: Answer) => (answer.body.Fault as { Error: Array<Record<string, string>>; type: string }) ?? {};

describe("the QuickBooks-like accounting system", () => {
  it("issues one-hour access tokens and rotates the refresh token, with Intuit's extra field", async () => {
    const { tokens, accounting } = await startAccounting();
    expect(tokens.status).toBe(200);
    expect(tokens.body).toMatchObject({
      token_type: "bearer",
      expires_in: 3600,
      x_refresh_token_expires_in: 8_726_400,
    });
    expect(tokens.body.refresh_token).not.toBe(accounting.credentials().refreshToken);
  });

  it("authenticates the client with HTTP Basic only", async () => {
    const { accounting } = await startAccounting();
    const { clientId = "", clientSecret = "" } = accounting.credentials();
    const inBody = await tokenRequest(
      {
        grant_type: "refresh_token",
        refresh_token: accounting.authorize().refreshToken,
        client_id: clientId,
        client_secret: clientSecret,
      },
      {},
    );
    expect(inBody).toMatchObject({ status: 401, body: { error: "invalid_client" } });
  });

  it("adds the realmId to the authorization callback, as Intuit does", async () => {
    const { accounting } = await startAccounting();
    const url = new URL(`${sandbox?.baseUrl("accounting")}/connect/oauth2`);
    url.search = new URLSearchParams({
      client_id: accounting.credentials().clientId ?? "",
      response_type: "code",
      scope: "com.intuit.quickbooks.accounting",
      redirect_uri: "http://127.0.0.1:3000/oauth/callback",
      state: "xyz",
    }).toString();
    const redirect = await fetch(url, { redirect: "manual" });
    const callback = new URL(redirect.headers.get("location") ?? "");
    expect(Object.fromEntries(callback.searchParams)).toMatchObject({ state: "xyz", realmId: accounting.realmId });
  });

  it("creates an invoice with QBO's totals, lines, balance and metadata", async () => {
    const { call, accounting } = await startAccounting();
    const { customerId, invoice } = await customerAndInvoice(call);
    expect(invoice.status).toBe(200);
    expect(invoice.headers.get("intuit_tid")).toBeTruthy();
    expect(invoice.body).toMatchObject({
      Invoice: {
        Id: expect.any(String),
        SyncToken: "0",
        DocNumber: "1001",
        TotalAmt: 59.99,
        Balance: 59.99,
        CustomerRef: { value: customerId, name: "Ada Lovelace" },
        CurrencyRef: { value: "USD" },
        BillEmail: { Address: "ada@example.com" },
        MetaData: { CreateTime: expect.stringMatching(/-07:00$/), LastUpdatedTime: expect.any(String) },
      },
      time: expect.any(String),
    });
    const lines = (invoice.body.Invoice as { Line: Array<Record<string, unknown>> }).Line;
    expect(lines.map((line) => line.DetailType)).toEqual([
      "SalesItemLineDetail",
      "SalesItemLineDetail",
      "SubTotalLineDetail",
    ]);
    expect(accounting.state()).toMatchObject({ customers: [{ displayName: "Ada Lovelace", balance: 59.99 }] });
  });

  it("honours no idempotency header: the same request twice makes two invoices with the same DocNumber", async () => {
    const { call, query, accounting } = await startAccounting();
    const { customerId } = await customerAndInvoice(call);
    const body = {
      CustomerRef: { value: customerId },
      DocNumber: "2002",
      Line: [{ Amount: 10, DetailType: "SalesItemLineDetail", SalesItemLineDetail: { ItemRef: { value: "1" } } }],
    };
    for (let attempt = 0; attempt < 2; attempt++) expect((await call("POST", "/invoice", body)).status).toBe(200);
    const found = await query("select * from Invoice where DocNumber = '2002'");
    expect((found.body.QueryResponse as { Invoice: unknown[] }).Invoice).toHaveLength(2);
    expect(accounting.state()).toMatchObject({ counts: { invoices: 3, duplicateDocNumbers: 1 } });
  });

  it("answers queries in the QBO SQL dialect with QueryResponse, an empty one when nothing matches", async () => {
    const { call, query } = await startAccounting();
    await customerAndInvoice(call);
    await call("POST", "/customer", { DisplayName: "O'Brien & Sons" });

    const byDoc = await query("SELECT * FROM Invoice WHERE DocNumber = '1001' STARTPOSITION 1 MAXRESULTS 10");
    expect(byDoc.body).toMatchObject({
      QueryResponse: { Invoice: [{ DocNumber: "1001" }], startPosition: 1, maxResults: 1 },
      time: expect.any(String),
    });
    expect((await query("select * from Invoice where DocNumber = 'nope'")).body).toEqual({
      QueryResponse: {},
      time: expect.any(String),
    });
    const quoted = await query("select * from Customer where DisplayName = 'O\\'Brien & Sons'");
    expect(quoted.body).toMatchObject({ QueryResponse: { Customer: [{ DisplayName: "O'Brien & Sons" }] } });
    // QBO compares strings without regard to case, as its duplicate-name rule does.
    const anyCase = await query("select * from Customer where DisplayName = 'o\\'brien & SONS'");
    expect(anyCase.body).toMatchObject({ QueryResponse: { Customer: [{ DisplayName: "O'Brien & Sons" }] } });
    const inList = await query("select * from Customer where DisplayName in ('nobody', 'O\\'BRIEN & SONS')");
    expect(inList.body).toMatchObject({ QueryResponse: { Customer: [{ DisplayName: "O'Brien & Sons" }] } });
    const paged = await query("select * from Customer startposition 2 maxresults 1");
    expect(paged.body).toMatchObject({
      QueryResponse: { Customer: [{ DisplayName: "O'Brien & Sons" }], startPosition: 2 },
    });
    expect((await query("select count(*) from Customer")).body).toMatchObject({ QueryResponse: { totalCount: 2 } });
  });

  it("compares date-times in queries as instants, whatever offset each is written in, and keeps a payment's PrivateNote", async () => {
    const { call, query } = await startAccounting();
    const { customerId, invoice } = await customerAndInvoice(call);
    const updated = (invoice.body.Invoice as { MetaData: { LastUpdatedTime: string } }).MetaData.LastUpdatedTime;
    const at = Date.parse(updated);
    const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
    const since = (ms: number) => query(`select * from Invoice where Metadata.LastUpdatedTime >= '${utc(ms)}'`);
    expect((await since(at)).body).toMatchObject({ QueryResponse: { Invoice: [{ DocNumber: "1001" }] } });
    expect((await since(at + 1000)).body.QueryResponse).toEqual({});
    const payment = await call("POST", "/payment", {
      CustomerRef: { value: customerId },
      TotalAmt: 10,
      PaymentRefNum: "h0123456789abcdefghij",
      PrivateNote: "Reference: pi_3QxAbCdEfGhIjKlMnOpQrStU",
    });
    expect(payment.body).toMatchObject({ Payment: { PrivateNote: "Reference: pi_3QxAbCdEfGhIjKlMnOpQrStU" } });
  });

  it("refuses malformed queries and non-queryable fields with QBO's fault codes", async () => {
    const { query } = await startAccounting();
    const malformed = await query("select * from Invoice where DocNumber = ");
    expect(malformed.status).toBe(400);
    expect(faultOf(malformed)).toMatchObject({ type: "ValidationFault", Error: [{ code: "4000" }] });
    const notQueryable = await query("select * from Invoice where PrivateNote = 'x'");
    expect(faultOf(notQueryable)).toMatchObject({
      Error: [{ code: "4001", Detail: expect.stringContaining("PrivateNote") }],
    });
  });

  it("validates like QBO: DocNumber length, Amount = Qty × UnitPrice, references, duplicate names", async () => {
    const { call } = await startAccounting();
    const { customerId } = await customerAndInvoice(call);
    const line = {
      Amount: 10,
      DetailType: "SalesItemLineDetail",
      SalesItemLineDetail: { ItemRef: { value: "1" }, Qty: 1, UnitPrice: 10 },
    };

    const longDoc = await call("POST", "/invoice", {
      CustomerRef: { value: customerId },
      DocNumber: "X".repeat(22),
      Line: [line],
    });
    expect(faultOf(longDoc)).toMatchObject({
      type: "ValidationFault",
      Error: [{ code: "2050", element: "DocNumber" }],
    });
    const wrongAmount = await call("POST", "/invoice", {
      CustomerRef: { value: customerId },
      Line: [{ ...line, Amount: 11 }],
    });
    expect(faultOf(wrongAmount)).toMatchObject({ Error: [{ code: "6070" }] });
    const noCustomer = await call("POST", "/invoice", { CustomerRef: { value: "424242" }, Line: [line] });
    expect(faultOf(noCustomer)).toMatchObject({ Error: [{ code: "2500", element: "CustomerRef" }] });
    const duplicateName = await call("POST", "/customer", { DisplayName: "ada lovelace" });
    expect(duplicateName.status).toBe(400);
    expect(faultOf(duplicateName)).toMatchObject({ Error: [{ code: "6240", Message: "Duplicate Name Exists Error" }] });
    const missing = await call("GET", "/invoice/424242");
    expect(faultOf(missing)).toMatchObject({ Error: [{ code: "610", Message: "Object Not Found" }] });
  });

  it("applies a payment to an invoice: the balance drops, and at zero the invoice is paid", async () => {
    const { call, accounting } = await startAccounting();
    const { customerId, invoice } = await customerAndInvoice(call);
    const invoiceId = (invoice.body.Invoice as { Id: string }).Id;
    const pay = (amount: number, reference: string) =>
      call("POST", "/payment", {
        CustomerRef: { value: customerId },
        TotalAmt: amount,
        PaymentRefNum: reference,
        Line: [{ Amount: amount, LinkedTxn: [{ TxnId: invoiceId, TxnType: "Invoice" }] }],
      });

    const partial = await pay(20, "pi_1");
    expect(partial.body).toMatchObject({ Payment: { TotalAmt: 20, UnappliedAmt: 0, PaymentRefNum: "pi_1" } });
    expect((await call("GET", `/invoice/${invoiceId}`)).body).toMatchObject({
      Invoice: { Balance: 39.99, SyncToken: "1" },
    });
    const over = await pay(40, "pi_2");
    expect(faultOf(over)).toMatchObject({ Error: [{ code: "6000" }] });
    await pay(39.99, "pi_3");
    expect(accounting.state()).toMatchObject({
      invoices: [{ id: invoiceId, balance: 0, paid: true }],
      payments: [{ paymentRefNum: "pi_1" }, { paymentRefNum: "pi_3" }],
      counts: { paidInvoices: 1, payments: 2 },
    });
  });

  it("answers 401 with Intuit's AUTHENTICATION fault once tokens are revoked, and 403 for another company", async () => {
    const { call, accounting, tokens } = await startAccounting();
    const elsewhere = await fetch(`${sandbox?.baseUrl("accounting")}/v3/company/123/customer/1?minorversion=75`, {
      headers: { authorization: `Bearer ${String(tokens.body.access_token)}`, accept: "application/json" },
    });
    expect(elsewhere.status).toBe(403);

    accounting.revokeCredentials();
    const revoked = await call("GET", "/customer/1");
    expect(revoked.status).toBe(401);
    expect(revoked.body).toEqual({
      fault: {
        error: [
          {
            message: "message=AuthenticationFailed; errorCode=003200; statusCode=401",
            detail: "Token revoked or expired",
            code: "3200",
          },
        ],
        type: "AUTHENTICATION",
      },
      time: expect.any(String),
    });
    const refresh = await tokenRequest(
      { grant_type: "refresh_token", refresh_token: String(tokens.body.refresh_token) },
      { authorization: basic(accounting.credentials().clientId ?? "", accounting.credentials().clientSecret ?? "") },
    );
    expect(refresh).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });
});
