package dev.squadron.spark.flightsql;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.List;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.DateMilliVector;
import org.apache.arrow.vector.Decimal256Vector;
import org.apache.arrow.vector.FixedSizeBinaryVector;
import org.apache.arrow.vector.TimeMicroVector;
import org.apache.arrow.vector.TimeStampMilliTZVector;
import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.UInt4Vector;
import org.apache.arrow.vector.UInt8Vector;
import org.apache.arrow.vector.types.DateUnit;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.IntervalUnit;
import org.apache.arrow.vector.types.TimeUnit;
import org.apache.arrow.vector.types.UnionMode;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.DictionaryEncoding;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.TimeType;
import org.junit.jupiter.api.Test;

/** Arrow result types as Spark sees them, and the values of converted columns. */
class ArrowTypeMappingTest {
  private static Field field(String name, ArrowType type, Field... children) {
    return new Field(name, FieldType.nullable(type), List.of(children));
  }

  private static DataType map(ArrowType type, Field... children) {
    return ArrowTypeMapping.toSparkSchema(new Schema(List.of(field("c", type, children)))).fields()[0].dataType();
  }

  @Test
  void mapsWhatSparkReadsDirectly() {
    assertEquals(DataTypes.BooleanType, map(ArrowType.Bool.INSTANCE));
    assertEquals(DataTypes.ByteType, map(new ArrowType.Int(8, true)));
    assertEquals(DataTypes.ShortType, map(new ArrowType.Int(16, true)));
    assertEquals(DataTypes.IntegerType, map(new ArrowType.Int(32, true)));
    assertEquals(DataTypes.LongType, map(new ArrowType.Int(64, true)));
    assertEquals(DataTypes.FloatType, map(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)));
    assertEquals(DataTypes.DoubleType, map(new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE)));
    assertEquals(DataTypes.createDecimalType(38, 10), map(new ArrowType.Decimal(38, 10, 128)));
    assertEquals(DataTypes.StringType, map(ArrowType.Utf8.INSTANCE));
    assertEquals(DataTypes.StringType, map(ArrowType.LargeUtf8.INSTANCE));
    assertEquals(DataTypes.StringType, map(ArrowType.Utf8View.INSTANCE));
    assertEquals(DataTypes.BinaryType, map(ArrowType.Binary.INSTANCE));
    assertEquals(DataTypes.BinaryType, map(ArrowType.LargeBinary.INSTANCE));
    assertEquals(DataTypes.DateType, map(new ArrowType.Date(DateUnit.DAY)));
    assertEquals(DataTypes.TimestampType, map(new ArrowType.Timestamp(TimeUnit.MICROSECOND, "UTC")));
    assertEquals(DataTypes.TimestampType, map(new ArrowType.Timestamp(TimeUnit.MICROSECOND, "Europe/Paris")));
    assertEquals(DataTypes.TimestampNTZType, map(new ArrowType.Timestamp(TimeUnit.MICROSECOND, null)));
    assertEquals(DataTypes.CalendarIntervalType, map(new ArrowType.Interval(IntervalUnit.MONTH_DAY_NANO)));
    assertEquals(DataTypes.NullType, map(ArrowType.Null.INSTANCE));
  }

  @Test
  void mapsNestedTypes() {
    assertEquals(DataTypes.createArrayType(DataTypes.LongType, true),
        map(ArrowType.List.INSTANCE, field("item", new ArrowType.Int(64, true))));
    StructType struct = (StructType) map(ArrowType.Struct.INSTANCE, field("a", new ArrowType.Int(32, true)),
        field("b", ArrowType.Utf8.INSTANCE));
    assertEquals(List.of("a", "b"), List.of(struct.fieldNames()));
    assertEquals(DataTypes.StringType, struct.fields()[1].dataType());
    Field entries = new Field("entries", FieldType.notNullable(ArrowType.Struct.INSTANCE),
        List.of(new Field("key", FieldType.notNullable(ArrowType.Utf8.INSTANCE), null),
            field("value", new ArrowType.Decimal(10, 2, 128))));
    assertEquals(DataTypes.createMapType(DataTypes.StringType, DataTypes.createDecimalType(10, 2), true),
        map(new ArrowType.Map(false), entries));
  }

  @Test
  void convertsTopLevelTypesExactly() {
    assertEquals(DataTypes.ShortType, map(new ArrowType.Int(8, false)));
    assertEquals(DataTypes.IntegerType, map(new ArrowType.Int(16, false)));
    assertEquals(DataTypes.LongType, map(new ArrowType.Int(32, false)));
    assertEquals(DataTypes.createDecimalType(20, 0), map(new ArrowType.Int(64, false)));
    assertEquals(DataTypes.FloatType, map(new ArrowType.FloatingPoint(FloatingPointPrecision.HALF)));
    assertEquals(DataTypes.BinaryType, map(new ArrowType.FixedSizeBinary(16)));
    assertEquals(DataTypes.createDecimalType(30, 4), map(new ArrowType.Decimal(30, 4, 256)));
    assertEquals(DataTypes.DateType, map(new ArrowType.Date(DateUnit.MILLISECOND)));
    assertEquals(DataTypes.TimestampType, map(new ArrowType.Timestamp(TimeUnit.MILLISECOND, "UTC")));
    assertEquals(DataTypes.TimestampNTZType, map(new ArrowType.Timestamp(TimeUnit.SECOND, null)));
    assertEquals(TimeType.apply(6), map(new ArrowType.Time(TimeUnit.MICROSECOND, 64)));
    Field dictionary = new Field("c", new FieldType(true, ArrowType.Utf8.INSTANCE,
        new DictionaryEncoding(1, false, new ArrowType.Int(32, true))), null);
    assertEquals(DataTypes.StringType, ArrowTypeMapping.toSparkSchema(new Schema(List.of(dictionary))).fields()[0].dataType());
    assertTrue(ArrowTypeMapping.needsConversion(dictionary));
    assertFalse(ArrowTypeMapping.needsConversion(field("c", ArrowType.Utf8.INSTANCE)));
  }

  @Test
  void refusesUnsupportedTypesNamingTheColumn() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> map(new ArrowType.Union(UnionMode.Dense, new int[] {0}), field("i", new ArrowType.Int(32, true))));
    assertTrue(e.getMessage().contains("column 'c'"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> map(new ArrowType.Decimal(76, 0, 256)));
    assertTrue(e.getMessage().contains("column 'c'") && e.getMessage().contains("76"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> map(ArrowType.List.INSTANCE, field("item", new ArrowType.Int(32, false))));
    assertTrue(e.getMessage().contains("column 'c.element'"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> map(ArrowType.Struct.INSTANCE, field("deep", ArrowType.LargeList.INSTANCE, field("i", ArrowType.Utf8.INSTANCE))));
    assertTrue(e.getMessage().contains("column 'c.deep'"), e.getMessage());
    Field opaque = new Field("u", new FieldType(true, new ArrowType.FixedSizeBinary(16), null,
        java.util.Map.of("ARROW:extension:name", "arrow.opaque",
            "ARROW:extension:metadata", "{\"type_name\":\"uhugeint\"}")), null);
    e = assertThrows(IllegalArgumentException.class, () -> ArrowTypeMapping.toSparkSchema(new Schema(List.of(opaque))));
    assertTrue(e.getMessage().contains("column 'u'") && e.getMessage().contains("uhugeint"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> map(new ArrowType.Interval(IntervalUnit.DAY_TIME)));
    assertTrue(e.getMessage().contains("column 'c'"), e.getMessage());
  }

  @Test
  void readsConvertedValues() {
    try (BufferAllocator allocator = new RootAllocator();
         UInt1Vector u1 = new UInt1Vector("u1", allocator);
         UInt4Vector u4 = new UInt4Vector("u4", allocator);
         UInt8Vector u8 = new UInt8Vector("u8", allocator);
         DateMilliVector dm = new DateMilliVector("dm", allocator);
         TimeStampMilliTZVector tsm = new TimeStampMilliTZVector("tsm", allocator, "UTC");
         TimeMicroVector tm = new TimeMicroVector("tm", allocator);
         FixedSizeBinaryVector fsb = new FixedSizeBinaryVector("fsb", allocator, 2);
         Decimal256Vector d256 = new Decimal256Vector("d256", allocator, 30, 2)) {
      u1.setSafe(0, (byte) 0xFF);
      u1.setNull(1);
      u1.setValueCount(2);
      u4.setSafe(0, 0xFFFFFFFF);
      u4.setValueCount(1);
      u8.setSafe(0, -1L);
      u8.setValueCount(1);
      dm.setSafe(0, -86_400_000L);
      dm.setValueCount(1);
      tsm.setSafe(0, 1_700_000_000_123L);
      tsm.setValueCount(1);
      tm.setSafe(0, 3_600_000_001L);
      tm.setValueCount(1);
      fsb.setSafe(0, new byte[] {1, 2});
      fsb.setValueCount(1);
      d256.setSafe(0, new BigDecimal("12345678901234567890123456.78"));
      d256.setValueCount(1);

      ConvertedColumnVector c = new ConvertedColumnVector(u1, DataTypes.ShortType);
      assertEquals(255, c.getShort(0));
      assertTrue(c.isNullAt(1) && c.hasNull() && c.numNulls() == 1);
      assertEquals(4294967295L, new ConvertedColumnVector(u4, DataTypes.LongType).getLong(0));
      assertEquals(new BigDecimal("18446744073709551615"),
          new ConvertedColumnVector(u8, DataTypes.createDecimalType(20, 0)).getDecimal(0, 20, 0).toJavaBigDecimal());
      assertEquals(-1, new ConvertedColumnVector(dm, DataTypes.DateType).getInt(0));
      assertEquals(1_700_000_000_123_000L, new ConvertedColumnVector(tsm, DataTypes.TimestampType).getLong(0));
      assertEquals(3_600_000_001_000L, new ConvertedColumnVector(tm, TimeType.apply(6)).getLong(0));
      assertEquals(2, new ConvertedColumnVector(fsb, DataTypes.BinaryType).getBinary(0)[1]);
      assertEquals(new BigDecimal("12345678901234567890123456.78"),
          new ConvertedColumnVector(d256, DataTypes.createDecimalType(30, 2)).getDecimal(0, 30, 2).toJavaBigDecimal());
    }
  }
}
