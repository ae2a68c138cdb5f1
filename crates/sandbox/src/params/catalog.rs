//! What the Products and Prices endpoints take.

use super::Params;

pub const CREATE_PRODUCT: Params = Params {
    takes: &[
        "name",
        "description",
        "active",
        "metadata[*]",
        "images[]",
        "id",
    ],
    not_emulated: &[
        "default_price_data",
        "tax_code",
        "shippable",
        "unit_label",
        "url",
        "statement_descriptor",
        "marketing_features",
        "package_dimensions",
    ],
};

pub const CREATE_PRICE: Params = Params {
    takes: &[
        "currency",
        "unit_amount",
        "product",
        "product_data[name]",
        "product_data[metadata][*]",
        "metadata[*]",
        "nickname",
        "active",
        "lookup_key",
    ],
    not_emulated: &[
        "recurring",
        "tax_behavior",
        "unit_amount_decimal",
        "billing_scheme",
        "tiers",
        "tiers_mode",
        "transform_quantity",
        "custom_unit_amount",
        "currency_options",
        "transfer_lookup_key",
    ],
};

/// A price by id.
pub const RETRIEVE_PRICE: Params = Params {
    takes: &["expand[]=product"],
    not_emulated: &[],
};

/// The sandbox makes no recurring prices: `type=recurring` lists none, as Stripe would for such
/// an account; the `recurring[…]` filters are not emulated.
pub const LIST_PRICES: Params = Params {
    takes: &[
        "limit",
        "starting_after",
        "ending_before",
        "active",
        "currency",
        "product",
        "type=one_time|recurring",
        "lookup_keys[]",
        "created",
        "created[gt]",
        "created[gte]",
        "created[lt]",
        "created[lte]",
        "expand[]=data.product",
    ],
    not_emulated: &["recurring"],
};

pub const LIST_PRODUCTS: Params = Params {
    takes: &[
        "limit",
        "starting_after",
        "ending_before",
        "active",
        "ids[]",
        "created",
        "created[gt]",
        "created[gte]",
        "created[lt]",
        "created[lte]",
        "expand[]=",
    ],
    not_emulated: &["shippable", "url"],
};
