package dev.squadron.spark.flightsql;

import java.util.ArrayList;
import java.util.List;

import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.TimeUnit;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.TimeType;
import org.apache.spark.sql.util.ArrowUtils;

/**
 * Maps the Arrow schema of a Flight SQL result to Spark's types.
 *
 * <p>Types Spark's own {@code ArrowColumnVector} reads map as Spark's
 * {@code ArrowUtils} maps them, and are read without a copy: bool, signed
 * ints, float32/64, decimal128, utf8/large_utf8/utf8_view,
 * binary/large_binary/binary_view, date32, timestamp[us] with a zone
 * (TimestampType) and without (TimestampNTZType), timestamp[ns] and
 * time64[ns] (Spark's nanosecond types), duration[us], intervals
 * year_month and month_day_nano, null, list, list_view, struct, map.
 *
 * <p>At the top level only, these are converted value by value
 * ({@link ConvertedColumnVector}), exactly: uint8/16/32 (to the next wider
 * signed type), uint64 (decimal(20,0)), float16 (float), fixed_size_binary
 * (binary), decimal256 of precision at most 38 (decimal), date64 (date),
 * timestamp[s]/[ms] (to microseconds), time32/time64[us] (time(6)), and
 * dictionary-encoded columns (decoded, as their value type).
 *
 * <p>Extension types are read as their storage type, except
 * {@code arrow.opaque} (bytes only the sender can interpret).
 *
 * <p>Anything else (large_list, fixed_size_list, unions, run-end encoding,
 * decimal256 beyond precision 38, a conversion inside a nested type) fails
 * with an {@link IllegalArgumentException} naming the column.
 */
public final class ArrowTypeMapping {
  /** Field metadata of Arrow extension types; other extensions are read as their storage type. */
  private static final String EXTENSION_NAME = "ARROW:extension:name";
  private static final String EXTENSION_METADATA = "ARROW:extension:metadata";
  private static final String OPAQUE = "arrow.opaque";

  private ArrowTypeMapping() {}

  /** The Spark schema of a result. Throws IllegalArgumentException naming an unsupported column. */
  public static StructType toSparkSchema(Schema schema) {
    List<StructField> fields = new ArrayList<>();
    for (Field field : schema.getFields()) {
      fields.add(new StructField(field.getName(), sparkType(field, field.getName(), true), field.isNullable(),
          org.apache.spark.sql.types.Metadata.empty()));
    }
    return new StructType(fields.toArray(new StructField[0]));
  }

  /** Whether a top-level column is read through a {@link ConvertedColumnVector} (or decoded). */
  public static boolean needsConversion(Field field) {
    return field.getDictionary() != null || convertedType(field.getType()) != null;
  }

  /**
   * The Spark type of a field at {@code path} ("col" or "col.child");
   * {@code topLevel} allows the converted types.
   */
  static DataType sparkType(Field field, String path, boolean topLevel) {
    ArrowType type = field.getType();
    if (field.getDictionary() != null) {
      if (!topLevel) throw unsupported(path, "a dictionary-encoded " + type + " inside a nested type");
      // The field's type is the dictionary's value type; decoded values are read.
      return valueType(field, path, true);
    }
    return valueType(field, path, topLevel);
  }

  private static DataType valueType(Field field, String path, boolean topLevel) {
    ArrowType type = field.getType();
    String extension = field.getMetadata().get(EXTENSION_NAME);
    if (OPAQUE.equals(extension)) {
      // Bytes only the sender can interpret (DuckDB's UHUGEINT, ...): no value to give.
      throw unsupported(path, "arrow.opaque " + field.getMetadata().getOrDefault(EXTENSION_METADATA, ""));
    }
    DataType converted = convertedType(type);
    if (converted != null) {
      if (!topLevel) {
        throw unsupported(path, type + " inside a nested type (it needs a conversion, done for top-level columns only)");
      }
      return converted;
    }
    switch (type.getTypeID()) {
      case List:
      case ListView: {
        Field element = field.getChildren().get(0);
        return DataTypes.createArrayType(sparkType(element, path + ".element", false), element.isNullable());
      }
      case Struct: {
        List<StructField> children = new ArrayList<>();
        for (Field child : field.getChildren()) {
          children.add(DataTypes.createStructField(child.getName(),
              sparkType(child, path + "." + child.getName(), false), child.isNullable()));
        }
        return DataTypes.createStructType(children);
      }
      case Map: {
        Field entries = field.getChildren().get(0);
        Field key = entries.getChildren().get(0);
        Field value = entries.getChildren().get(1);
        return DataTypes.createMapType(sparkType(key, path + ".key", false),
            sparkType(value, path + ".value", false), value.isNullable());
      }
      case Int:
      case Bool:
      case FloatingPoint:
      case Decimal:
      case Utf8:
      case LargeUtf8:
      case Utf8View:
      case Binary:
      case LargeBinary:
      case BinaryView:
      case Date:
      case Timestamp:
      case Time:
      case Duration:
      case Interval:
      case Null:
        return sparkOwn(type, path);
      default:
        throw unsupported(path, type.toString());
    }
  }

  /** Spark's own mapping of a primitive type, with the column named when it refuses. */
  private static DataType sparkOwn(ArrowType type, String path) {
    try {
      return ArrowUtils.fromArrowType(type);
    } catch (RuntimeException e) {
      throw unsupported(path, type + " (" + e.getMessage() + ")");
    }
  }

  /** The Spark type of a top-level type read through ConvertedColumnVector, or null. */
  static DataType convertedType(ArrowType type) {
    switch (type.getTypeID()) {
      case Int: {
        ArrowType.Int i = (ArrowType.Int) type;
        if (i.getIsSigned()) return null;
        switch (i.getBitWidth()) {
          case 8: return DataTypes.ShortType;
          case 16: return DataTypes.IntegerType;
          case 32: return DataTypes.LongType;
          default: return DataTypes.createDecimalType(20, 0);
        }
      }
      case FloatingPoint:
        return ((ArrowType.FloatingPoint) type).getPrecision() == FloatingPointPrecision.HALF
            ? DataTypes.FloatType : null;
      case FixedSizeBinary:
        return DataTypes.BinaryType;
      case Decimal: {
        ArrowType.Decimal d = (ArrowType.Decimal) type;
        if (d.getBitWidth() == 128) return null;
        if (d.getPrecision() > DecimalType.MAX_PRECISION()) return null;  // refused by sparkOwn
        return DataTypes.createDecimalType(d.getPrecision(), d.getScale());
      }
      case Date:
        return ((ArrowType.Date) type).getUnit() == org.apache.arrow.vector.types.DateUnit.MILLISECOND
            ? DataTypes.DateType : null;
      case Timestamp: {
        ArrowType.Timestamp t = (ArrowType.Timestamp) type;
        if (t.getUnit() != TimeUnit.SECOND && t.getUnit() != TimeUnit.MILLISECOND) return null;
        return t.getTimezone() == null ? DataTypes.TimestampNTZType : DataTypes.TimestampType;
      }
      case Time:
        return ((ArrowType.Time) type).getUnit() == TimeUnit.NANOSECOND
            ? null : TimeType.apply(TimeType.MICROS_PRECISION());
      default:
        return null;
    }
  }

  static IllegalArgumentException unsupported(String path, String what) {
    return new IllegalArgumentException("flightsql: column '" + path + "' has the Arrow type " + what
        + ", which Spark cannot read; CAST it in the query to a supported type");
  }
}
