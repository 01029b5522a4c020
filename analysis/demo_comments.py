"""The comments the demo customers write (see :mod:`analysis.demo`)."""

PAYMENT_COMPLAINTS = (
    "My card was declined at checkout even though it works everywhere else",
    "Payment failed twice before it finally went through",
    "Checkout kept rejecting my credit card",
    "Card declined again at payment, so frustrating",
    "The payment step failed and I had to start my order over",
    "Why does my card get declined every time I try to pay",
    "Failed payment at checkout, nearly gave up on the order",
    "Payment error at checkout, card was charged nothing but the order failed",
)
CHECKOUT_PRAISE = (
    "Checkout was quick and easy",
    "Smooth payment, done in a minute",
    "Easy checkout, no problems",
    "Paying was simple",
)
PURCHASE_PRAISE = (
    "Great products and fast delivery",
    "Love the quality, will order again",
    "Delivery arrived early, very happy",
    "Good value for the price",
)
PURCHASE_COMPLAINTS = (
    "Delivery was late by a week",
    "My parcel arrived late and nobody told me",
    "Package arrived damaged",
    "Prices went up again, not worth it",
)
SUPPORT_PRAISE = (
    "The agent was helpful and solved my issue",
    "Friendly support, problem fixed on the first call",
    "Quick answer from the support team",
)
SUPPORT_COMPLAINTS = (
    "Long wait on hold before anyone answered",
    "Had to call three times to get it sorted",
    "Support could not answer my question",
)
APP_COMPLAINTS = (
    "The app crashes when I open my orders",
    "App is slow to load my account",
)
