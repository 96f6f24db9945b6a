"""Mints a checkout token on a merchant's backend (Python 3, standard library only): an HS256 JWS
whose claims carry the order's cart, so the buyer's browser cannot change a line or a price.
Usage: MERCHANT_ID=shop TOKEN_SECRET=... python3 mint_token.py ORDER_ID"""
import base64, hashlib, hmac, json, os, sys, time

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

now = int(time.time())
claims = {
    "merchant": os.environ["MERCHANT_ID"],
    "order_id": sys.argv[1],
    "currency": "CNY",
    "cart": {"prices_include_tax": True, "lines": [{"description": "Green tea 250 g", "quantity": "2",
             "unit_price": "68.00", "tax_category": "S", "tax_rate": "9"}]},
    "iat": now,
    "exp": now + 15 * 60,  # at most 24 h after iat
}
signing_input = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode())
# The HMAC key is the UTF-8 bytes of the secret; keep the secret on the server only.
mac = hmac.new(os.environ["TOKEN_SECRET"].encode(), signing_input.encode(), hashlib.sha256).digest()
print(signing_input + "." + b64url(mac))
