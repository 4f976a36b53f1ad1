/**
 * QBO's error answers: a refused request is answered with `{ Fault: { Error: [{ Message, Detail, code, element }], type }, time }`.
 * The sandbox's accounting system throws a `QboFault` wherever QBO would refuse, and renders it as that body.
 */

export interface FaultError {
  Message: string;
  Detail: string;
  code: string;
  element?: string;
}

/** A request QBO would refuse: answered with `{ Fault: { Error: [...], type }, time }`. */
export class QboFault extends Error {
  constructor(
    readonly status: number,
    readonly error: FaultError,
    readonly type = "ValidationFault",
  ) {
    super(error.Detail);
  }
}

export function queryParseError(detail: string): QboFault {
  return new QboFault(400, { Message: "Error parsing query", Detail: `QueryParserError: ${detail}`, code: "4000" });
}

export function queryInvalid(detail: string): QboFault {
  return new QboFault(400, { Message: "Invalid query", Detail: `QueryValidationError: ${detail}`, code: "4001" });
}

export function missing(element: string): QboFault {
  return new QboFault(400, {
    Message: "Required param missing, need to supply the required value for the API",
    Detail: `Required parameter ${element} is missing in the request`,
    code: "2020",
    element,
  });
}

export function invalidReference(element: string, id: string): QboFault {
  return new QboFault(400, {
    Message: "Invalid Reference Id",
    Detail: `Invalid Reference Id : Something you're trying to use has been made inactive or doesn't exist: ${element} ${id}`,
    code: "2500",
    element,
  });
}

export function businessRule(detail: string, element: string): QboFault {
  return new QboFault(400, {
    Message: "A business validation error has occurred while processing your request",
    Detail: `Business Validation Error: ${detail}`,
    code: "6000",
    element,
  });
}

export function objectNotFound(): QboFault {
  return new QboFault(400, {
    Message: "Object Not Found",
    Detail:
      "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees.",
    code: "610",
    element: "",
  });
}

export function unsupported(what: string): QboFault {
  return new QboFault(400, {
    Message: "Operation not supported",
    Detail: `The sandbox does not support ${what}`,
    code: "2030",
    element: "",
  });
}
