"""Word lists the sandbox composes store names and product titles from.

Titles on DHgate are long keyword chains ("LED Strip Lights 5050 RGB Bluetooth APP Control for
Bedroom"); composing them from a head, a few specs and a tail gives the same shape, so keyword
filters, title truncation and search all meet realistic text. Each category also carries a price
band and the units its listings are sold by.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """A family of listings: how their titles are built, what they cost, how they are counted."""

    name: str
    heads: tuple[str, ...]
    specs: tuple[str, ...]
    tails: tuple[str, ...]
    price_band: tuple[str, str]  # lowest and highest starting price in USD
    units: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        name="LED Lighting",
        heads=("LED Strip Lights", "LED Neon Sign", "Smart LED Bulb", "LED Fairy Lights",
               "COB LED Strip", "Solar Garden Lights"),
        specs=("5050 RGB", "12V", "Waterproof IP65", "16 Colors", "Bluetooth APP Control",
               "5M 10M 20M", "USB Powered", "Music Sync", "Remote Control", "Warm White"),
        tails=("for Bedroom", "for TV Backlight", "Party Decoration", "Christmas Home Decor",
               "for Kitchen Cabinet", "Outdoor Wedding"),
        price_band=("1.20", "24.00"),
        units=("Piece", "Set", "Meter"),
    ),
    Category(
        name="Audio",
        heads=("Wireless Earbuds", "Bluetooth Headphones", "TWS Earphones", "Bone Conduction Headset",
               "Portable Bluetooth Speaker", "Gaming Headset"),
        specs=("Bluetooth 5.3", "Noise Cancelling", "Touch Control", "HiFi Stereo", "Deep Bass",
               "Low Latency", "IPX7 Waterproof", "40H Playtime", "ENC Mic"),
        tails=("with Charging Case", "for iPhone Android", "Sports Running", "for Gaming",
               "Long Battery Life"),
        price_band=("3.50", "39.00"),
        units=("Piece", "Pair", "Set"),
    ),
    Category(
        name="Phone Accessories",
        heads=("Phone Case", "Cell Phone Holder", "Magnetic Car Mount", "Fast Charger",
               "USB C Cable", "Screen Protector"),
        specs=("for iPhone 15 Pro Max", "Shockproof", "Silicone", "65W PD", "Tempered Glass",
               "360 Rotation", "Braided Nylon", "MagSafe Compatible", "Ultra Thin"),
        tails=("for Samsung Galaxy", "Universal Fit", "Anti Scratch", "with Ring Stand",
               "Car Dashboard Mount"),
        price_band=("0.15", "12.00"),
        units=("Piece", "Lot", "Box"),
    ),
    Category(
        name="Apparel",
        heads=("Men's Polo Shirt", "Women's Summer Dress", "Oversized Hoodie", "Cargo Pants",
               "Yoga Leggings", "Denim Jacket"),
        specs=("Cotton Breathable", "Casual Loose Fit", "Plus Size", "Quick Dry", "Embroidered Logo",
               "Solid Color", "Streetwear", "High Waist", "Slim Fit"),
        tails=("for Men", "for Women", "Summer Collection", "Autumn Winter", "Gym Sportswear"),
        price_band=("4.90", "45.00"),
        units=("Piece", "Set"),
    ),
    Category(
        name="Shoes",
        heads=("Running Shoes", "Casual Sneakers", "Platform Sandals", "Hiking Boots",
               "Basketball Shoes", "Canvas Slip Ons"),
        specs=("Breathable Mesh", "Non Slip Sole", "Lightweight", "Chunky Platform", "Leather Upper",
               "Shock Absorbing", "Size 36-46", "Vulcanized"),
        tails=("for Men Women", "Outdoor Walking", "Unisex Trainers", "Street Style",
               "Couple Shoes"),
        price_band=("9.50", "69.00"),
        units=("Pair",),
    ),
    Category(
        name="Jewelry & Watches",
        heads=("Stainless Steel Necklace", "Hoop Earrings", "Quartz Watch", "Charm Bracelet",
               "Cuban Link Chain", "Sterling Silver Ring"),
        specs=("18K Gold Plated", "Hypoallergenic", "Waterproof", "Minimalist", "Cubic Zirconia",
               "Adjustable", "Rose Gold", "Luxury Design"),
        tails=("for Women", "for Men", "Gift Box", "Wedding Party Jewelry", "Daily Wear"),
        price_band=("0.90", "35.00"),
        units=("Piece", "Pair", "Set"),
    ),
    Category(
        name="Home & Kitchen",
        heads=("Kitchen Storage Rack", "Silicone Baking Mat", "Vacuum Insulated Bottle",
               "Bamboo Cutting Board", "Shower Caddy", "Electric Milk Frother"),
        specs=("Stainless Steel", "BPA Free", "Foldable", "Wall Mounted", "Food Grade",
               "Large Capacity", "Rustproof", "Dishwasher Safe"),
        tails=("for Kitchen", "for Bathroom", "Home Organizer", "Camping Travel", "Space Saving"),
        price_band=("1.80", "29.00"),
        units=("Piece", "Set", "Box"),
    ),
)

BRANDS: tuple[str, ...] = ("CNLONGBIDA", "JOXIN", "LUMINA", "VOXTEK", "HOMEFIT", "STARLUX", "BAOLI")

STORE_NAME_PREFIXES: tuple[str, ...] = (
    "cn", "sz", "gz", "yiwu", "hk", "shen", "jin", "hua", "xin", "long", "mei", "dragon", "golden",
)
STORE_NAME_WORDS: tuple[str, ...] = (
    "bida", "tech", "light", "fashion", "trade", "mall", "star", "home", "sport", "audio", "gadget",
    "jewel", "shoes", "outlet", "direct", "supply",
)

PLURAL_UNITS: dict[str, str] = {
    "Piece": "Pieces",
    "Pair": "Pairs",
    "Set": "Sets",
    "Lot": "Lots",
    "Box": "Boxes",
    "Meter": "Meters",
}


def plural_unit(unit: str) -> str:
    """The plural DHgate prints after a quantity above one ("2 Pieces")."""
    return PLURAL_UNITS.get(unit, unit + "s")
