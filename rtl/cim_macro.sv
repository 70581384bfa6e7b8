// cim_macro: memristor compute-in-memory macro with an AXI4-Lite slave.
//
//   cim_axil_slave  AXI4-Lite handshakes -> one request per edge (docs/arithmetic.md §5)
//   cim_regfile     registers, INBUF, access checks, errors, IRQ, counters, BUSY timing,
//                   command validation and issue, DBG_* backdoor
//   cim_array       behavioural crossbar tiles, device, read noise and ADCs, OUTBUF,
//                   SATBUF, READBUF (evaluates a command on its accept edge)
//
// Register map: spec/cim_macro.toml -> rtl/cim_reg_pkg.svh (generated).  Arithmetic:
// docs/arithmetic.md.  Parameter defaults are the TOML "default" preset; the "seed-chip"
// preset is NTiles = 4, Rows = 64, Cols = 64.
//
// Reset: rst_ni is an ASYNCHRONOUS, active-low reset throughout the macro (flops use
// "posedge clk_i or negedge rst_ni").  The first rising edge with rst_ni high is edge 0
// of CYCLE.  The memristor array (conductances, write counters) is not reset.
//
// SystemVerilog (Icarus -g2012 and Verilator): the ports and the widths come from the
// package cim_reg_pkg; cim_regfile hands the config registers to cim_array as one
// packed struct (cim_cfg_t).
`include "cim_reg_pkg.svh"
module cim_macro import cim_reg_pkg::*; #(
  parameter int NTiles = 8,    // NTILES: crossbar tiles
  parameter int Rows   = 256,  // ROWS: rows (word lines) per tile, at most 256
  parameter int Cols   = 64    // COLS: columns (bit lines) per tile, at most COL_MASK_BITS
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  // AXI4-Lite slave
  input  logic [CIM_ADDR_WIDTH-1:0] s_axil_awaddr,
  input  logic [2:0]                s_axil_awprot,
  input  logic                      s_axil_awvalid,
  output logic                      s_axil_awready,
  input  logic [31:0]               s_axil_wdata,
  input  logic [3:0]                s_axil_wstrb,
  input  logic                      s_axil_wvalid,
  output logic                      s_axil_wready,
  output logic [1:0]                s_axil_bresp,
  output logic                      s_axil_bvalid,
  input  logic                      s_axil_bready,
  input  logic [CIM_ADDR_WIDTH-1:0] s_axil_araddr,
  input  logic [2:0]                s_axil_arprot,
  input  logic                      s_axil_arvalid,
  output logic                      s_axil_arready,
  output logic [31:0]               s_axil_rdata,
  output logic [1:0]                s_axil_rresp,
  output logic                      s_axil_rvalid,
  input  logic                      s_axil_rready,
  // IRQ_STATUS.DONE & CTRL.IRQ_EN
  output logic                      irq_o
);
  localparam integer NumPairs    = NTiles * Rows * Cols;
  localparam integer PairBits    = $clog2(NumPairs);
  localparam integer BufWordBits = $clog2(INBUF_WORDS);

  // ---------------------------------------------------------------- bus -> requests
  wire                      req_valid;
  wire                      req_write;
  wire [CIM_ADDR_WIDTH-1:0] req_addr;
  wire [CIM_ADDR_WIDTH-1:0] rd_addr;
  wire [31:0]               req_wdata;
  wire [3:0]                req_wstrb;
  wire [31:0]               rsp_rdata;
  wire [1:0]                rsp_resp;

  cim_axil_slave u_axil (
    .clk_i          (clk_i),
    .rst_ni         (rst_ni),
    .s_axil_awaddr  (s_axil_awaddr),
    .s_axil_awprot  (s_axil_awprot),
    .s_axil_awvalid (s_axil_awvalid),
    .s_axil_awready (s_axil_awready),
    .s_axil_wdata   (s_axil_wdata),
    .s_axil_wstrb   (s_axil_wstrb),
    .s_axil_wvalid  (s_axil_wvalid),
    .s_axil_wready  (s_axil_wready),
    .s_axil_bresp   (s_axil_bresp),
    .s_axil_bvalid  (s_axil_bvalid),
    .s_axil_bready  (s_axil_bready),
    .s_axil_araddr  (s_axil_araddr),
    .s_axil_arprot  (s_axil_arprot),
    .s_axil_arvalid (s_axil_arvalid),
    .s_axil_arready (s_axil_arready),
    .s_axil_rdata   (s_axil_rdata),
    .s_axil_rresp   (s_axil_rresp),
    .s_axil_rvalid  (s_axil_rvalid),
    .s_axil_rready  (s_axil_rready),
    .req_valid_o    (req_valid),
    .req_write_o    (req_write),
    .req_addr_o     (req_addr),
    .rd_addr_o      (rd_addr),
    .req_wdata_o    (req_wdata),
    .req_wstrb_o    (req_wstrb),
    .rsp_rdata_i    (rsp_rdata),
    .rsp_resp_i     (rsp_resp)
  );

  // ---------------------------------------------------------------- regfile <-> array
  wire                                 cmd_start;
  wire [CMD_OPCODE_WIDTH-1:0]          cmd_opcode;
  wire                                 cmd_signed;
  wire                                 cmd_pol;
  wire [31:0]                          op_index;
  cim_cfg_t                            cfg;
  wire [COL_MASK_BITS-1:0]             dead_cols;
  wire                                 inbuf_we;
  wire [31:0]                          inbuf_word;
  wire [BufWordBits-1:0]               buf_word;
  wire [BufWordBits-1:0]               inbuf_wword;
  wire [31:0]                          outbuf_word;
  wire [31:0]                          satbuf_word;
  wire [31:0]                          readbuf_word;
  wire [SAT_COUNT_VALUE_WIDTH-1:0]     sat_count;
  wire [PairBits-1:0]                  dbg_pair;
  wire                                 dbg_we;
  wire [GCODE_BITS-1:0]                dbg_gp_wr;
  wire [GCODE_BITS-1:0]                dbg_gn_wr;
  wire [GCODE_BITS-1:0]                dbg_gp_rd;
  wire [GCODE_BITS-1:0]                dbg_gn_rd;
  wire [WC_BITS-1:0]                   dbg_wcp;
  wire [WC_BITS-1:0]                   dbg_wcn;

  cim_regfile #(
    .NTiles (NTiles),
    .Rows   (Rows),
    .Cols   (Cols)
  ) u_regfile (
    .clk_i              (clk_i),
    .rst_ni             (rst_ni),
    .req_valid_i        (req_valid),
    .req_write_i        (req_write),
    .req_addr_i         (req_addr),
    .rd_addr_i          (rd_addr),
    .req_wdata_i        (req_wdata),
    .req_wstrb_i        (req_wstrb),
    .rsp_rdata_o        (rsp_rdata),
    .rsp_resp_o         (rsp_resp),
    .irq_o              (irq_o),
    .cmd_start_o        (cmd_start),
    .cmd_opcode_o       (cmd_opcode),
    .cmd_signed_o       (cmd_signed),
    .cmd_pol_o          (cmd_pol),
    .op_index_o         (op_index),
    .cfg_o              (cfg),
    .dead_cols_o        (dead_cols),
    .inbuf_we_o         (inbuf_we),
    .inbuf_wword_o      (inbuf_wword),
    .buf_word_o         (buf_word),
    .inbuf_word_i       (inbuf_word),
    .outbuf_word_i      (outbuf_word),
    .satbuf_word_i      (satbuf_word),
    .readbuf_word_i     (readbuf_word),
    .sat_count_i        (sat_count),
    .dbg_pair_o         (dbg_pair),
    .dbg_we_o           (dbg_we),
    .dbg_gp_o           (dbg_gp_wr),
    .dbg_gn_o           (dbg_gn_wr),
    .dbg_gp_i           (dbg_gp_rd),
    .dbg_gn_i           (dbg_gn_rd),
    .dbg_wcp_i          (dbg_wcp),
    .dbg_wcn_i          (dbg_wcn)
  );

  cim_array #(
    .NTiles (NTiles),
    .Rows   (Rows),
    .Cols   (Cols)
  ) u_array (
    .clk_i              (clk_i),
    .rst_ni             (rst_ni),
    .cmd_start_i        (cmd_start),
    .cmd_opcode_i       (cmd_opcode),
    .cmd_signed_i       (cmd_signed),
    .cmd_pol_i          (cmd_pol),
    .op_index_i         (op_index),
    .cfg_i              (cfg),
    .dead_cols_i        (dead_cols),
    .inbuf_we_i         (inbuf_we),
    .inbuf_wword_i      (inbuf_wword),
    .inbuf_wdata_i      (req_wdata),
    .buf_word_i         (buf_word),
    .inbuf_word_o       (inbuf_word),
    .outbuf_word_o      (outbuf_word),
    .satbuf_word_o      (satbuf_word),
    .readbuf_word_o     (readbuf_word),
    .sat_count_o        (sat_count),
    .dbg_pair_i         (dbg_pair),
    .dbg_we_i           (dbg_we),
    .dbg_gp_i           (dbg_gp_wr),
    .dbg_gn_i           (dbg_gn_wr),
    .dbg_gp_o           (dbg_gp_rd),
    .dbg_gn_o           (dbg_gn_rd),
    .dbg_wcp_o          (dbg_wcp),
    .dbg_wcn_o          (dbg_wcn)
  );

endmodule
