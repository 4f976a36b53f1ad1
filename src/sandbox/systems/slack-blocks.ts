/**
 * Block Kit checks for a message posted to a Slack incoming webhook, as Slack's reference lists the
 * blocks and their limits (https://api.slack.com/reference/block-kit/blocks). Slack answers any broken
 * block with one word, `invalid_blocks`; this returns why as well, for the sandbox's captured state.
 */

/** The blocks a message may carry (modal- and Home-only blocks are refused in messages). */
const messageBlockTypes = new Set([
  "actions",
  "context",
  "divider",
  "file",
  "header",
  "image",
  "input",
  "markdown",
  "rich_text",
  "section",
  "video",
]);

/** The interactive elements an actions block takes. */
const actionElementTypes = new Set([
  "button",
  "checkboxes",
  "datepicker",
  "datetimepicker",
  "overflow",
  "radio_buttons",
  "static_select",
  "external_select",
  "users_select",
  "conversations_select",
  "channels_select",
  "multi_static_select",
  "multi_external_select",
  "multi_users_select",
  "multi_conversations_select",
  "multi_channels_select",
  "timepicker",
  "workflow_button",
]);

export const blockLimits = {
  blocks: 50,
  blockId: 255,
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  contextElements: 10,
  actionElements: 25,
  buttonText: 75,
  buttonUrl: 3000,
  actionId: 255,
  markdownText: 12_000,
};

type Json = Record<string, unknown>;

/** Why `blocks` is not a valid message layout, or undefined when it is. */
export function invalidBlocksReason(blocks: unknown): string | undefined {
  if (!Array.isArray(blocks)) return "blocks must be an array";
  if (blocks.length > blockLimits.blocks) return `a message holds at most ${blockLimits.blocks} blocks`;
  for (const [index, block] of blocks.entries()) {
    const reason = invalidBlockReason(block);
    if (reason) return `blocks[${index}]: ${reason}`;
  }
  return undefined;
}

function invalidBlockReason(block: unknown): string | undefined {
  if (!isObject(block) || typeof block.type !== "string") return "a block is an object with a type";
  if (!messageBlockTypes.has(block.type)) return `"${block.type}" is not a block messages can carry`;
  if (block.block_id !== undefined && !isText(block.block_id, blockLimits.blockId)) {
    return `block_id must be a string of at most ${blockLimits.blockId} characters`;
  }
  switch (block.type) {
    case "header":
      return isTextObject(block.text, blockLimits.headerText, ["plain_text"])
        ? undefined
        : `a header's text is plain_text of at most ${blockLimits.headerText} characters`;
    case "section":
      return invalidSectionReason(block);
    case "context":
      return invalidContextReason(block.elements);
    case "actions":
      return invalidActionsReason(block.elements);
    case "image":
      return (isText(block.image_url, 3000) || isObject(block.slack_file)) && isText(block.alt_text, 2000)
        ? undefined
        : "an image needs image_url (or slack_file) and alt_text";
    case "markdown":
      return isText(block.text, blockLimits.markdownText)
        ? undefined
        : `a markdown block's text is a string of at most ${blockLimits.markdownText} characters`;
    case "rich_text":
      return Array.isArray(block.elements) ? undefined : "a rich_text block needs elements";
    default:
      return undefined;
  }
}

function invalidSectionReason(block: Json): string | undefined {
  if (block.text === undefined && block.fields === undefined) return "a section needs text or fields";
  if (block.text !== undefined && !isTextObject(block.text, blockLimits.sectionText)) {
    return `a section's text is a text object of at most ${blockLimits.sectionText} characters`;
  }
  if (block.fields !== undefined) {
    if (!Array.isArray(block.fields) || block.fields.length === 0 || block.fields.length > blockLimits.sectionFields) {
      return `a section has 1 to ${blockLimits.sectionFields} fields`;
    }
    if (!block.fields.every((field) => isTextObject(field, blockLimits.fieldText))) {
      return `each field is a text object of at most ${blockLimits.fieldText} characters`;
    }
  }
  if (block.accessory !== undefined && !(isObject(block.accessory) && typeof block.accessory.type === "string")) {
    return "a section's accessory is an element with a type";
  }
  return undefined;
}

function invalidContextReason(elements: unknown): string | undefined {
  if (!Array.isArray(elements) || elements.length === 0 || elements.length > blockLimits.contextElements) {
    return `a context block has 1 to ${blockLimits.contextElements} elements`;
  }
  const valid = elements.every(
    (element) => isTextObject(element) || (isObject(element) && element.type === "image" && isText(element.alt_text)),
  );
  return valid ? undefined : "a context element is a text object or an image with alt_text";
}

function invalidActionsReason(elements: unknown): string | undefined {
  if (!Array.isArray(elements) || elements.length === 0 || elements.length > blockLimits.actionElements) {
    return `an actions block has 1 to ${blockLimits.actionElements} elements`;
  }
  for (const element of elements) {
    if (!isObject(element) || typeof element.type !== "string" || !actionElementTypes.has(element.type)) {
      return "an actions element is an interactive element (button, select, …)";
    }
    if (element.type === "button") {
      const reason = invalidButtonReason(element);
      if (reason) return reason;
    }
  }
  return undefined;
}

function invalidButtonReason(button: Json): string | undefined {
  if (!isTextObject(button.text, blockLimits.buttonText, ["plain_text"])) {
    return `a button's text is plain_text of at most ${blockLimits.buttonText} characters`;
  }
  const hasUrl = button.url !== undefined;
  if (hasUrl && !(isText(button.url, blockLimits.buttonUrl) && URL.canParse(button.url as string))) {
    return `a button's url is a URL of at most ${blockLimits.buttonUrl} characters`;
  }
  if (button.action_id !== undefined && !isText(button.action_id, blockLimits.actionId)) {
    return `a button's action_id is a string of at most ${blockLimits.actionId} characters`;
  }
  if (!hasUrl && button.action_id === undefined) return "a button needs a url or an action_id";
  if (button.style !== undefined && button.style !== "primary" && button.style !== "danger") {
    return 'a button\'s style is "primary" or "danger"';
  }
  return undefined;
}

function isTextObject(value: unknown, max = 3000, types = ["plain_text", "mrkdwn"]): boolean {
  return isObject(value) && typeof value.type === "string" && types.includes(value.type) && isText(value.text, max);
}

function isText(value: unknown, max = Number.POSITIVE_INFINITY): boolean {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
