// Where each result column comes from: the table a column of a query result
// is read from, for ARROW:FLIGHT:SQL:CATALOG_NAME / SCHEMA_NAME / TABLE_NAME
// (JDBC's getTableName; DBeaver makes a grid editable with it).
//
// DuckDB's prepared statements keep no logical plan, so an optimizer
// extension records the origins of the plan it is about to optimise in the
// connection's client state; the adapter clears the record before it plans a
// statement and takes it afterwards. Columns read unchanged from a table (also
// through views, subqueries, filters, orders, limits and joins) get their
// table; computed, aggregated, set-operation and table-function columns get
// none.
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include "duckdb/catalog/catalog_entry/table_catalog_entry.hpp"
#include "duckdb/main/client_context_state.hpp"
#include "duckdb/optimizer/optimizer_extension.hpp"
#include "duckdb/planner/expression/bound_columnref_expression.hpp"
#include "duckdb/planner/expression/bound_function_expression.hpp"
#include "duckdb/planner/expression_iterator.hpp"
#include "duckdb/planner/logical_operator_visitor.hpp"
#include "duckdb/planner/operator/logical_get.hpp"
#include "duckdb/planner/operator/logical_projection.hpp"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

constexpr const char* kStateKey = "squadron_column_origins";

class ColumnOriginState final : public duckdb::ClientContextState {
 public:
  ColumnOrigins origins;
  bool per_query_functions = false;  // see PlanCallsPerQueryFunctions
};

// Deep plans are rare; past this depth a column simply has no origin.
constexpr int kMaxDepth = 256;

std::optional<ColumnOrigin> Resolve(duckdb::LogicalOperator& op, const duckdb::ColumnBinding& binding, int depth) {
  using duckdb::LogicalOperatorType;
  if (depth > kMaxDepth) return std::nullopt;
  if (op.type == LogicalOperatorType::LOGICAL_GET) {
    auto& get = op.Cast<duckdb::LogicalGet>();
    if (get.table_index != binding.table_index) return std::nullopt;
    auto table = get.GetTable();
    const auto& ids = get.GetColumnIds();
    if (!table || binding.column_index >= ids.size() || ids[binding.column_index].IsVirtualColumn()) {
      return std::nullopt;
    }
    return ColumnOrigin{table->ParentCatalog().GetName(), table->ParentSchema().name, table->name};
  }
  if (op.type == LogicalOperatorType::LOGICAL_PROJECTION) {
    auto& projection = op.Cast<duckdb::LogicalProjection>();
    if (projection.table_index != binding.table_index || binding.column_index >= projection.expressions.size()) {
      return std::nullopt;
    }
    const auto* expression = projection.expressions[binding.column_index].get();
    if (expression->GetExpressionClass() != duckdb::ExpressionClass::BOUND_COLUMN_REF || op.children.empty()) {
      return std::nullopt;  // computed here
    }
    return Resolve(*op.children[0], expression->Cast<duckdb::BoundColumnRefExpression>().binding, depth + 1);
  }
  // Operators that pass their children's columns through (filter, order,
  // limit, joins...): follow the child that produces the binding.
  for (auto& child : op.children) {
    for (const auto& produced : child->GetColumnBindings()) {
      if (produced == binding) return Resolve(*child, binding, depth + 1);
    }
  }
  return std::nullopt;
}

bool CallsPerQueryFunction(duckdb::Expression& expression, int depth) {
  if (depth > kMaxDepth) return true;  // cannot tell: assume it does
  if (expression.GetExpressionClass() == duckdb::ExpressionClass::BOUND_FUNCTION &&
      expression.Cast<duckdb::BoundFunctionExpression>().function.stability ==
          duckdb::FunctionStability::CONSISTENT_WITHIN_QUERY) {
    return true;
  }
  bool found = false;
  duckdb::ExpressionIterator::EnumerateChildren(expression, [&](duckdb::Expression& child) {
    if (!found) found = CallsPerQueryFunction(child, depth + 1);
  });
  return found;
}

// True when some expression of the plan calls a function DuckDB evaluates
// once per query (now(), current_date, txid_current()...): the optimiser
// folds it into the plan as a constant.
bool CallsPerQueryFunction(duckdb::LogicalOperator& op, int depth) {
  if (depth > kMaxDepth) return true;
  bool found = false;
  duckdb::LogicalOperatorVisitor::EnumerateExpressions(op, [&](duckdb::unique_ptr<duckdb::Expression>* expression) {
    if (!found && expression && *expression) found = CallsPerQueryFunction(**expression, 0);
  });
  for (auto& child : op.children) {
    if (found) break;
    found = CallsPerQueryFunction(*child, depth + 1);
  }
  return found;
}

void RecordOrigins(duckdb::OptimizerExtensionInput& input, duckdb::unique_ptr<duckdb::LogicalOperator>& plan) {
  auto state = input.context.registered_state->GetOrCreate<ColumnOriginState>(kStateKey);
  state->origins.clear();
  try {
    state->per_query_functions = CallsPerQueryFunction(*plan, 0);
  } catch (const std::exception&) {
    state->per_query_functions = true;
  }
  try {
    for (const auto& binding : plan->GetColumnBindings()) state->origins.push_back(Resolve(*plan, binding, 0));
  } catch (const std::exception&) {
    state->origins.clear();  // origins are a courtesy: never fail a query over them
  }
}

}  // namespace

void TrackColumnOrigins(duckdb::DBConfig& config) {
  duckdb::OptimizerExtension extension;
  // Before DuckDB's optimizers: the plan is still as bound (no column
  // compression, no scans replaced by an empty result because statistics
  // rule every row out), and the optimizers keep the output columns.
  extension.pre_optimize_function = RecordOrigins;
  config.optimizer_extensions.push_back(std::move(extension));
}

void ClearColumnOrigins(duckdb::ClientContext& context) {
  if (auto state = context.registered_state->Get<ColumnOriginState>(kStateKey)) {
    state->origins.clear();
    state->per_query_functions = false;
  }
}

bool PlanCallsPerQueryFunctions(duckdb::ClientContext& context) {
  auto state = context.registered_state->Get<ColumnOriginState>(kStateKey);
  return state && state->per_query_functions;
}

ColumnOrigins TakeColumnOrigins(duckdb::ClientContext& context) {
  auto state = context.registered_state->Get<ColumnOriginState>(kStateKey);
  return state ? std::move(state->origins) : ColumnOrigins{};
}

std::shared_ptr<arrow::Schema> WithColumnOrigins(const std::shared_ptr<arrow::Schema>& schema,
                                                 const ColumnOrigins& origins) {
  if (origins.size() != static_cast<size_t>(schema->num_fields())) return schema;
  arrow::FieldVector fields = schema->fields();
  for (size_t i = 0; i < origins.size(); ++i) {
    if (!origins[i]) continue;
    auto metadata = fields[i]->metadata() ? fields[i]->metadata()->Copy()
                                          : std::make_shared<arrow::KeyValueMetadata>();
    metadata->Append("ARROW:FLIGHT:SQL:CATALOG_NAME", origins[i]->catalog);
    metadata->Append("ARROW:FLIGHT:SQL:SCHEMA_NAME", origins[i]->schema);
    metadata->Append("ARROW:FLIGHT:SQL:TABLE_NAME", origins[i]->table);
    fields[i] = fields[i]->WithMetadata(metadata);
  }
  return arrow::schema(std::move(fields), schema->metadata());
}

}  // namespace squadron::engine
