/**
 * What the sandbox shop sells. The store (its products and variants) and the inventory system (its
 * stock items) both seed from this list, so the same SKUs exist on both sides, as they would for a
 * merchant whose warehouse and storefront share a catalogue.
 */
export interface CatalogueProduct {
  /** Stock-keeping unit, the key the store and the warehouse share. */
  sku: string;
  title: string;
  /** Unit price in the shop's currency, as a decimal string ("29.00"), the way Shopify sends money. */
  price: string;
  /** Units in stock when the sandbox starts. */
  initialStock: number;
}

export const catalogue: readonly CatalogueProduct[] = [
  { sku: "TEN-MUG-01", title: "Stoneware Mug", price: "18.00", initialStock: 1200 },
  { sku: "TEN-TEE-BLK-M", title: "Organic Cotton T-Shirt, Black, M", price: "29.00", initialStock: 900 },
  { sku: "TEN-TEE-WHT-L", title: "Organic Cotton T-Shirt, White, L", price: "29.00", initialStock: 850 },
  { sku: "TEN-HOOD-GRY-L", title: "Heavyweight Hoodie, Grey, L", price: "64.00", initialStock: 400 },
  { sku: "TEN-CAP-01", title: "Six-Panel Cap", price: "24.00", initialStock: 600 },
  { sku: "TEN-TOTE-01", title: "Canvas Tote Bag", price: "16.50", initialStock: 1000 },
  { sku: "TEN-NOTE-A5", title: "Dot-Grid Notebook, A5", price: "12.00", initialStock: 1500 },
  { sku: "TEN-BTL-750", title: "Insulated Bottle, 750 ml", price: "32.00", initialStock: 700 },
  { sku: "TEN-STK-PACK", title: "Sticker Pack (8)", price: "6.00", initialStock: 3000 },
  { sku: "TEN-SOCK-01", title: "Merino Socks", price: "14.00", initialStock: 800 },
];
