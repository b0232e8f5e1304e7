-- Demo data for `make run`: a small shop. Generated at start-up in memory
-- (under a second), deterministic (setseed), related by keys.
SELECT setseed(0.42);

CREATE TYPE order_status AS ENUM ('placed', 'paid', 'shipped', 'delivered', 'returned');

CREATE TABLE customers AS
SELECT
  i AS customer_id,
  'Customer ' || i AS name,
  ['Lisbon', 'Oslo', 'Lagos', 'Osaka', 'Lima', 'Quebec'][1 + i % 6] AS city,
  DATE '2020-01-01' + (i % 1500)::INTEGER AS signed_up_on,
  i % 11 = 0 AS is_business
FROM range(1, 10001) t(i);

CREATE TABLE products AS
SELECT
  i AS product_id,
  ['Widget', 'Gadget', 'Doohickey', 'Gizmo', 'Sprocket'][1 + i % 5] || ' ' || i AS name,
  ['tools', 'toys', 'garden', 'kitchen'][1 + i % 4] AS category,
  (5 + (i * 37) % 500 + (i % 100) / 100.0)::DECIMAL(10, 2) AS list_price
FROM range(1, 1001) t(i);

-- One million orders with mixed types: integers, decimals, timestamps,
-- an enum, a nullable text column, a list and a boolean.
CREATE TABLE orders AS
SELECT
  i AS order_id,
  1 + (hash(i) % 10000)::INTEGER AS customer_id,
  1 + (hash(i * 7) % 1000)::INTEGER AS product_id,
  TIMESTAMP '2024-01-01 00:00:00' + to_seconds((hash(i * 13) % 31536000)::BIGINT) AS ordered_at,
  (1 + hash(i * 17) % 5)::SMALLINT AS quantity,
  (1 + (hash(i * 19) % 50000) / 100.0)::DECIMAL(10, 2) AS unit_price,
  (['placed', 'paid', 'shipped', 'delivered', 'returned'][1 + (hash(i * 23) % 5)::INTEGER])::order_status AS status,
  CASE WHEN i % 7 = 0 THEN 'gift wrap please' WHEN i % 13 = 0 THEN 'leave at the door' END AS note,
  CASE WHEN i % 3 = 0 THEN ['promo'] WHEN i % 5 = 0 THEN ['promo', 'bulk'] ELSE [] END AS tags,
  hash(i * 29) % 10 = 0 AS expedited
FROM range(1, 1000001) t(i);

CREATE VIEW revenue_by_city AS
SELECT c.city, count(*) AS orders, sum(o.quantity * o.unit_price) AS revenue
FROM orders o JOIN customers c USING (customer_id)
GROUP BY c.city;
